#!/bin/sh
# Checks the unit files with `systemd-analyze verify` and prints the
# `systemd-analyze security` exposure of the service. Needs no running
# systemd: install the tools with `apt-get install -y systemd`.
# Usage: systemd/verify.sh [path/to/portico-gateway [path/to/portico-tunnel]]
# (exit 0: units valid and the gateway's exposure is at most 2.0)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
command -v systemd-analyze >/dev/null || {
    echo "systemd-analyze not found: install it: apt-get install -y systemd" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# verify checks that ExecStart binaries exist: point the units at a copy of
# the built binary (or a stub) instead of /usr/bin/portico-gateway.
stage() {  # stage NAME [built binary]
    if [ -n "${2:-}" ] && [ -x "$2" ]; then
        cp "$2" "$work/$1"
    else
        printf '#!/bin/sh\nexit 0\n' > "$work/$1"
        chmod 755 "$work/$1"
    fi
}
stage portico-gateway "${1:-$here/../target/debug/portico-gateway}"
stage portico-tunnel "${2:-$here/../target/debug/portico-tunnel}"
units="portico-gateway.service portico-gateway.socket portico-tunnel.service"
for unit in $units; do
    sed -e "s#/usr/bin/portico-gateway#$work/portico-gateway#g" \
        -e "s#/usr/bin/portico-tunnel#$work/portico-tunnel#g" "$here/$unit" > "$work/$unit"
done

echo "== systemd-analyze verify"
out=$(cd "$work" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
    $(for u in $units; do printf '%s ' "$work/$u"; done) 2>&1) || {
    printf '%s\n' "$out"; echo "verify FAILED" >&2; exit 1; }
# verify exits 0 on some warnings: treat any line about our units as a failure.
if printf '%s\n' "$out" | grep -q 'portico-'; then
    printf '%s\n' "$out"; echo "verify reported problems" >&2; exit 1
fi
echo "ok: $units"

echo "== systemd-analyze security --offline=yes portico-gateway.service"
sec=$(systemd-analyze security --offline=yes --no-pager "$work/portico-gateway.service" 2>&1) || true
printf '%s\n' "$sec" | grep -E '^✗|Overall exposure' || printf '%s\n' "$sec"
exposure=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || { echo "no exposure figure" >&2; exit 1; }
echo "exposure: $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || {
    echo "exposure $exposure is above 2.0" >&2; exit 1; }

echo "== systemd-analyze security --offline=yes portico-tunnel.service (needs CAP_NET_ADMIN for [tun])"
systemd-analyze security --offline=yes --no-pager "$work/portico-tunnel.service" 2>&1 | grep 'Overall exposure' || true
