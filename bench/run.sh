#!/usr/bin/env bash
# Side-by-side benchmark of portico-gateway against HAProxy, nginx stream
# (ssl_preread), sslh-fork and sslh-select, and of the Portico tunnel against
# rathole. Every contender runs on 127.0.0.1 with the equivalent of one
# TLS-SNI route (SNI a.test -> the sink). Results: a table on stdout and, in
# a full run, the generated section of docs/benchmarks.md.
#
#   bench/run.sh            full run (about 7 minutes), rewrites docs/benchmarks.md
#   bench/run.sh --smoke    every contender for about 0.5 s per measurement;
#                           exits non-zero if any measurement fails
#   bench/run.sh --only tunnel [--smoke]
#                           the tunnel rows only (Portico tunnel and rathole,
#                           about 1.5 minutes); prints their table and leaves
#                           docs/benchmarks.md alone
#   bench/run.sh --only forward [--smoke]
#                           the pure port forward: Portico with other_after = "0s"
#                           against HAProxy mode tcp and nginx stream without
#                           preread, plus Portico detecting SSH (about 1 minute);
#                           prints the table and leaves docs/benchmarks.md alone
#   bench/run.sh --only udp [--smoke]
#                           the UDP forward: Portico's [[udp_listener]] (other)
#                           against nginx stream's UDP proxy and direct, 64- and
#                           1,200-byte datagrams echoed by the sink (about 1 minute);
#                           prints the table and leaves docs/benchmarks.md alone
#
# Run as root (ulimit -n 200000; otherwise the hard limit caps the idle test). Needs: haproxy, nginx + libnginx-mod-stream,
# sslh (sslh + sslh-select), openssl, iproute2 (ss), python3, rathole
# (RATHOLE=/path/to/rathole, or on PATH, or /tmp/rathole-install/bin).
set -euo pipefail

MODE=full
ONLY=
usage() { echo "usage: bench/run.sh [--smoke] [--only tunnel|forward|udp]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --smoke) MODE=smoke ;;
        --only) case "${2:-}" in tunnel|forward|udp) ONLY=$2 ;; *) usage ;; esac; shift ;;
        *) usage ;;
    esac
    shift
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLIGHT=$ROOT/sniff/corpus/curl_tls_h2.bin   # curl 7.88.1 ClientHello, SNI a.test
DOC=$ROOT/docs/benchmarks.md

# ---- settings (seconds, counts) -------------------------------------------
if [ "$MODE" = smoke ]; then
    BULK_SECS=0.5; CONN_SECS=0.5; LAT_SECS=0.5; LAT_RATE=200; IDLE_COUNT=100; RUNS=1
else
    BULK_SECS=3; CONN_SECS=3; LAT_SECS=3; LAT_RATE=2000; IDLE_COUNT=10000; RUNS=2
fi
# RUNS: bulk and connection-rate measurements are repeated and the best run
# kept, so that a burst of other work on the machine does not decide a ratio.
CONN_WORKERS=32          # concurrent workers of the connection-rate test
IDLE_OPEN_TIMEOUT=40     # bound on opening the idle connections
READY_TIMEOUT=15         # bound on a contender starting to listen
NOFILE=200000

# ---- ports (below the ephemeral range, so tests binding port 0 never take them)
P_SINK=27101
P_PORTICO=27201; P_HAPROXY=27202; P_NGINX=27203; P_SSLH_FORK=27204; P_SSLH_SELECT=27205
P_TUN_GW=27211; P_TUN_LINK=27212
P_RH_TCP_CTL=27221; P_RH_TCP_SVC=27222
P_RH_NOISE_CTL=27223; P_RH_NOISE_SVC=27224
P_RH_TLS_CTL=27225; P_RH_TLS_SVC=27226
P_PF_PORTICO=27231; P_PF_HAPROXY=27232; P_PF_NGINX=27233; P_SSH_PORTICO=27234
P_UDP_SINK=27241; P_UDP_PORTICO=27242; P_UDP_NGINX=27243   # UDP
P_QUIC_SINK=27244; P_QUIC_PORTICO=27245                      # QUIC (UDP)
SSH_FLIGHT=$ROOT/sniff/corpus/ssh_banner.bin   # an OpenSSH client banner

# ---- install checks ---------------------------------------------------------
missing=()
need() {   # need COMMAND "how to install"
    command -v "$1" >/dev/null 2>&1 || missing+=("$1: $2")
}
if [ "$ONLY" != tunnel ]; then
    need haproxy "apt-get install -y haproxy"
    need nginx "apt-get install -y nginx libnginx-mod-stream"
fi
if [ -z "$ONLY" ]; then
    need sslh "apt-get install -y sslh"
    need sslh-select "apt-get install -y sslh"
fi
need openssl "apt-get install -y openssl"
need ss "apt-get install -y iproute2"
need python3 "apt-get install -y python3"
need cargo "install Rust with rustup (https://rustup.rs)"
NGX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
[ "$ONLY" = tunnel ] || [ -f "$NGX_STREAM" ] || missing+=("$NGX_STREAM: apt-get install -y libnginx-mod-stream")
if [ -z "${RATHOLE:-}" ]; then
    RATHOLE=$(command -v rathole || true)
    [ -n "$RATHOLE" ] || { [ -x /tmp/rathole-install/bin/rathole ] && RATHOLE=/tmp/rathole-install/bin/rathole; } || true
fi
case $ONLY in forward|udp) true ;; *) false ;; esac || { [ -n "${RATHOLE:-}" ] && [ -x "$RATHOLE" ]; } ||
    missing+=("rathole: apt-get install -y libssl-dev pkg-config && cargo install rathole --root /tmp/rathole-install (or set RATHOLE=/path/to/rathole)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench/run.sh: missing programs:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi
# Every idle connection costs the proxy two descriptors (client and sink side).
# Without CAP_SYS_RESOURCE (e.g. in a container) the hard limit caps the count.
if ! ulimit -n "$NOFILE" 2>/dev/null; then
    ulimit -n "$(ulimit -Hn)"
    echo "bench/run.sh: cannot raise the open-file limit to $NOFILE; using the hard limit $(ulimit -n)" >&2
fi
FD_LIMIT=$(ulimit -n)
PROXY_MAXCONN=$(( (FD_LIMIT - 100) / 2 ))
if [ $(( 2 * IDLE_COUNT + 500 )) -gt "$FD_LIMIT" ]; then
    IDLE_COUNT=$(( (FD_LIMIT - 500) / 2 ))
    echo "bench/run.sh: open-file limit $FD_LIMIT: the idle test opens $IDLE_COUNT connections" >&2
fi

PORTS="$P_SINK $P_TUN_GW $P_RH_TCP_CTL $P_RH_TCP_SVC $P_RH_NOISE_CTL $P_RH_NOISE_SVC $P_RH_TLS_CTL $P_RH_TLS_SVC"
[ "$ONLY" = tunnel ] || PORTS="$PORTS $P_PORTICO $P_HAPROXY $P_NGINX $P_SSLH_FORK $P_SSLH_SELECT"
for port in $PORTS; do
    if ss -Hltn "sport = :$port" | grep -q .; then
        echo "bench/run.sh: port $port is in use; stop what listens there" >&2
        exit 1
    fi
done

# ---- build --------------------------------------------------------------------
echo "== building (release)"
(cd "$ROOT" && cargo build --release -q -p portico-bench -p portico-gateway -p portico-tunnel)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BENCH=$TARGET_DIR/release/portico-bench
GATEWAY=$TARGET_DIR/release/portico-gateway
TUNNEL=$TARGET_DIR/release/portico-tunnel

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
W=$(mktemp -d /tmp/portico-bench.XXXXXX)
RESULTS=$W/results.jsonl
: > "$RESULTS"
echo "== work directory $W"

# ---- process helpers ------------------------------------------------------------
PIDS=()
track() { PIDS+=("$1"); }
stop_pid() {   # stop_pid PID : its direct children first (sslh-fork, nginx), then it
    local pid=$1
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    local end=$((SECONDS + 5))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() { for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT

wait_port() {   # wait_port PORT [tcp|udp] : until something listens (no connection made)
    local flag=-Hltn end=$((SECONDS + READY_TIMEOUT))
    [ "${2:-tcp}" = udp ] && flag=-Hlun
    until ss $flag "sport = :$1" | grep -q .; do
        [ $SECONDS -ge $end ] && { echo "timeout waiting for :$1" >&2; return 1; }
        sleep 0.02
    done
}

SINK_PID=
start_sink() {   # start_sink bulk|answer
    [ -n "$SINK_PID" ] && stop_pid "$SINK_PID"
    "$BENCH" sink --listen 127.0.0.1:$P_SINK --mode "$1" 2>>"$W/sink.log" &
    SINK_PID=$!; track $SINK_PID
    wait_port $P_SINK
}

# Runs one portico-bench measurement, stores its JSON line, echoes a summary.
measure() {   # measure ROW TEST PORT [ARGS...]
    local row=$1 test=$2 port=$3; shift 3
    local line
    if ! line=$("$BENCH" "$test" --target 127.0.0.1:"$port" --first-flight "$FLIGHT" --label "$row" "$@" 2>>"$W/bench.log"); then
        line="{\"test\":\"$test\",\"label\":\"$row\",\"failed\":true}"
    fi
    echo "$line" >> "$RESULTS"
    echo "   $line"
}
measure_best() {   # measure_best ROW TEST PORT [ARGS...] : RUNS times
    local i
    for i in $(seq 1 $RUNS); do measure "$@"; done
}

# Until one round trip through PORT gets its answer (tunnels set up their
# data path after they listen); at most about 10 s.
wait_through() {   # wait_through PORT
    local probe
    start_sink answer
    for _ in $(seq 1 20); do
        probe=$("$BENCH" idle --target 127.0.0.1:"$1" --first-flight "$FLIGHT" --count 1 \
            --open-timeout 2 2>/dev/null || true)
        case $probe in *'"opened":1'*) return 0 ;; esac
        sleep 0.25
    done
    return 1
}

# Bulk and connection rate only (the tunnel rows).
tunnel_suite() {   # tunnel_suite ROW PORT
    local row=$1 port=$2
    start_sink bulk
    measure_best "$row" bulk "$port" --streams 1 --duration $BULK_SECS
    measure_best "$row" bulk "$port" --streams 16 --duration $BULK_SECS
    start_sink answer
    measure_best "$row" connrate "$port" --workers $CONN_WORKERS --duration $CONN_SECS
}

not_measured() {   # not_measured ROW REASON
    echo "   not measured: $2"
    printf '{"test":"skipped","label":"%s","reason":"%s"}\n' "$1" "${2//\"/\'}" >> "$RESULTS"
}

# ---- configurations ------------------------------------------------------------
source "$ROOT/bench/configs.sh"
case $ONLY in
    forward) write_forward_configs "$W" ;;
    udp) write_udp_configs "$W" ;;
    tunnel) write_configs "$W" ;;
    *) write_configs "$W"; write_forward_configs "$W"; write_udp_configs "$W" ;;
esac

# ---- the UDP forward ---------------------------------------------------------------
# Every contender forwards 127.0.0.1:PORT/udp to the UDP echo sink; each
# client flow is its own source port, so each contender keeps one flow (one
# backend socket) per client socket. nginx runs one worker per core with
# reuseport; Portico's UDP listener is one receive loop.
udp_suite() {   # every UDP contender, started, measured and stopped
    if [ "$MODE" = smoke ]; then UDP_SECS=0.5; else UDP_SECS=3; fi
    local -A PORT
    local ROWS=(direct portico-udp nginx-udp)
    "$BENCH" udp-sink --listen 127.0.0.1:$P_UDP_SINK 2>>"$W/sink.log" &
    SINK_PID=$!; track $SINK_PID; wait_port $P_UDP_SINK udp
    PORT[direct]=$P_UDP_SINK
    echo "== starting portico-gateway (udp_listener, other) and nginx stream (udp)"
    RUST_LOG=warn "$GATEWAY" --config "$W/udp-portico.toml" 2>"$W/udp-portico.log" &
    GW=$!; track $GW; wait_port $P_UDP_PORTICO udp
    PORT[portico-udp]=$P_UDP_PORTICO
    nginx -q -p "$W/udp-nginx" -c nginx.conf -t
    nginx -p "$W/udp-nginx" -c nginx.conf -g 'daemon off;' 2>"$W/udp-nginx.log" &
    NG=$!; track $NG; wait_port $P_UDP_NGINX udp
    PORT[nginx-udp]=$P_UDP_NGINX
    measure_udp() {   # measure_udp ROW [ARGS...]
        local row=$1 line; shift
        if ! line=$("$BENCH" udp --target 127.0.0.1:"${PORT[$row]}" --label "$row" "$@" 2>>"$W/bench.log"); then
            line="{\"test\":\"udp\",\"label\":\"$row\",\"failed\":true}"
        fi
        echo "$line" >> "$RESULTS"
        echo "   $line"
    }
    for _ in $(seq 1 $RUNS); do
        for size in 64 1200; do
            for row in "${ROWS[@]}"; do
                echo "-- $row udp $size B, 8 flows"
                measure_udp "$row" --size $size --flows 8 --window 16 --duration $UDP_SECS
            done
        done
    done
    # QUIC bulk (HTTP/3's transport): direct to the QUIC sink, and through
    # Portico's quic listener, which routes a.test by the SNI of the
    # client's Initial packets. No peer routes QUIC by SNI.
    "$BENCH" quic-sink --listen 127.0.0.1:$P_QUIC_SINK 2>>"$W/sink.log" &
    QS=$!; track $QS; wait_port $P_QUIC_SINK udp; wait_port $P_QUIC_PORTICO udp
    for _ in $(seq 1 $RUNS); do
        for row in quic-direct:$P_QUIC_SINK portico-quic:$P_QUIC_PORTICO; do
            for streams in 1 4; do
                echo "-- ${row%%:*} quic-bulk, $streams streams"
                local line
                if ! line=$("$BENCH" quic-bulk --target 127.0.0.1:"${row##*:}" --label "${row%%:*}" \
                    --streams $streams --duration $UDP_SECS 2>>"$W/bench.log"); then
                    line="{\"test\":\"quic-bulk\",\"label\":\"${row%%:*}\",\"streams\":$streams,\"failed\":true}"
                fi
                echo "$line" >> "$RESULTS"
                echo "   $line"
            done
        done
    done
    for pid in $GW $NG $QS; do stop_pid "$pid"; done
    stop_pid "$SINK_PID"; SINK_PID=
}

if [ "$ONLY" = udp ]; then
udp_suite
{
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; kernel $(uname -r)"
    echo "- portico-gateway: $(cd "$ROOT" && git rev-parse --short HEAD) (release build)"
    echo "- $(nginx -v 2>&1) with libnginx-mod-stream $(dpkg-query -W -f='${Version}' libnginx-mod-stream 2>/dev/null)"
    echo "- run: $STARTED, \`bench/run.sh --only udp$([ "$MODE" = smoke ] && echo ' --smoke')\`"
    echo "- load average (1/5/15 min) before: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the cores)"
} > "$W/machine.md"
(cd "$ROOT/bench" && PYTHONDONTWRITEBYTECODE=1 python3 - "$RESULTS" "$W/machine.md" "$MODE" <<'PY'
import sys
import report
rows = report.load(sys.argv[1])
print(open(sys.argv[2], encoding="utf-8").read().rstrip("\n"))
print("\n".join([""] + report.udp_table(rows)))
bad = report.problems(rows) if sys.argv[3] == "smoke" else []
if bad:
    print("\nsmoke FAILED:\n  " + "\n  ".join(bad))
    sys.exit(1)
PY
)
exit $?
fi

# ---- the pure port forward and SSH detection -------------------------------------
# Every contender forwards 127.0.0.1:PORT to the sink without looking at a
# byte: Portico's listener has protocols = ["other"] and other_after = "0s",
# HAProxy is in mode tcp with no inspect-delay, nginx stream has no preread.
# portico-ssh detects the SSH banner (protocols = ["ssh"]) before
# forwarding; it and portico-forward are also measured with an OpenSSH
# banner as the first flight, so their difference is the cost of detection.
forward_suite() {   # every port-forward contender, started, measured and stopped
    local -A PORT PIDS_OF
    local ROWS=(direct portico-forward haproxy-tcp nginx-stream) FLIGHT=$FLIGHT
    PORT[direct]=$P_SINK; PIDS_OF[direct]=
    echo "== starting portico-gateway (other_after = 0s; ssh), haproxy (mode tcp), nginx stream"
    RUST_LOG=warn "$GATEWAY" --config "$W/forward-portico.toml" 2>"$W/forward-portico.log" &
    GW=$!; track $GW; wait_port $P_PF_PORTICO; wait_port $P_SSH_PORTICO
    PORT[portico-forward]=$P_PF_PORTICO; PIDS_OF[portico-forward]="--pid $GW"
    haproxy -q -c -f "$W/forward-haproxy.cfg"
    haproxy -db -f "$W/forward-haproxy.cfg" 2>"$W/forward-haproxy.log" &
    HP=$!; track $HP; wait_port $P_PF_HAPROXY
    PORT[haproxy-tcp]=$P_PF_HAPROXY; PIDS_OF[haproxy-tcp]="--pid $HP"
    nginx -q -p "$W/forward-nginx" -c nginx.conf -t
    nginx -p "$W/forward-nginx" -c nginx.conf -g 'daemon off;' 2>"$W/forward-nginx.log" &
    NG=$!; track $NG; wait_port $P_PF_NGINX
    PORT[nginx-stream]=$P_PF_NGINX; PIDS_OF[nginx-stream]="--pid $NG"

    each_forward_row() {   # each_forward_row TEST [ARGS...]
        local test=$1 row pids; shift
        for row in "${ROWS[@]}"; do
            pids=
            [ "$test" = connrate ] && pids=${PIDS_OF[$row]}
            echo "-- $row $test"
            # shellcheck disable=SC2086 # pids is "--pid N" or empty
            measure "$row" "$test" "${PORT[$row]}" "$@" $pids
        done
    }
    start_sink bulk
    for _ in $(seq 1 $RUNS); do
        each_forward_row bulk --streams 1 --duration $BULK_SECS
        each_forward_row bulk --streams 16 --duration $BULK_SECS
    done
    start_sink answer
    for _ in $(seq 1 $RUNS); do
        each_forward_row connrate --workers $CONN_WORKERS --duration $CONN_SECS
    done
    FLIGHT=$SSH_FLIGHT
    for _ in $(seq 1 $RUNS); do
        echo "-- portico-ssh connrate (SSH banner first)"
        measure portico-ssh connrate $P_SSH_PORTICO --workers $CONN_WORKERS --duration $CONN_SECS --pid $GW
        echo "-- portico-forward connrate (SSH banner first)"
        measure portico-forward-ssh-flight connrate $P_PF_PORTICO --workers $CONN_WORKERS --duration $CONN_SECS --pid $GW
    done
    for pid in $GW $HP $NG; do stop_pid "$pid"; done
    stop_pid "$SINK_PID"; SINK_PID=
}

if [ "$ONLY" = forward ]; then
forward_suite
{
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; kernel $(uname -r)"
    echo "- portico-gateway: $(cd "$ROOT" && git rev-parse --short HEAD) (release build)"
    echo "- $(haproxy -v | head -1)"
    echo "- $(nginx -v 2>&1) with libnginx-mod-stream $(dpkg-query -W -f='${Version}' libnginx-mod-stream 2>/dev/null)"
    echo "- run: $STARTED, \`bench/run.sh --only forward$([ "$MODE" = smoke ] && echo ' --smoke')\`"
    echo "- load average (1/5/15 min) before: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the cores)"
} > "$W/machine.md"
(cd "$ROOT/bench" && PYTHONDONTWRITEBYTECODE=1 python3 - "$RESULTS" "$W/machine.md" "$MODE" <<'PY'
import sys
import report
rows = report.load(sys.argv[1])
print(open(sys.argv[2], encoding="utf-8").read().rstrip("\n"))
print("\n".join([""] + report.forward_table(rows)))
bad = report.problems(rows) if sys.argv[3] == "smoke" else []
if bad:
    print("\nsmoke FAILED:\n  " + "\n  ".join(bad))
    sys.exit(1)
PY
)
exit $?
fi

if [ "$ONLY" != tunnel ]; then
# ---- the gateway and its peers -------------------------------------------------
# All contenders run at once and every measurement goes round them in turn
# (each repetition of each measurement visits every contender before the next
# starts), so that a slow spell of the shared machine falls on all of them
# alike instead of on whichever contender was being measured then.
declare -A PORT PIDS_OF
ROWS=(direct portico haproxy nginx sslh-fork sslh-select)
PORT[direct]=$P_SINK; PIDS_OF[direct]=

echo "== starting portico-gateway, haproxy, nginx stream (ssl_preread), sslh-fork, sslh-select"
RUST_LOG=warn "$GATEWAY" --config "$W/portico.toml" 2>"$W/portico.log" &
GW=$!; track $GW; wait_port $P_PORTICO
PORT[portico]=$P_PORTICO; PIDS_OF[portico]="--pid $GW"

haproxy -q -c -f "$W/haproxy.cfg"
haproxy -db -f "$W/haproxy.cfg" 2>"$W/haproxy.log" &
HP=$!; track $HP; wait_port $P_HAPROXY
PORT[haproxy]=$P_HAPROXY; PIDS_OF[haproxy]="--pid $HP"

nginx -q -p "$W/nginx" -c nginx.conf -t
nginx -p "$W/nginx" -c nginx.conf -g 'daemon off;' 2>"$W/nginx.log" &
NG=$!; track $NG; wait_port $P_NGINX
PORT[nginx]=$P_NGINX; PIDS_OF[nginx]="--pid $NG"

sslh -F"$W/sslh-fork.cfg" 2>"$W/sslh-fork.log" &
SF=$!; track $SF; wait_port $P_SSLH_FORK
PORT[sslh-fork]=$P_SSLH_FORK; PIDS_OF[sslh-fork]="--pid $SF"

sslh-select -F"$W/sslh-select.cfg" 2>"$W/sslh-select.log" &
SS=$!; track $SS; wait_port $P_SSLH_SELECT
PORT[sslh-select]=$P_SSLH_SELECT; PIDS_OF[sslh-select]="--pid $SS"

each_row_with_port() {   # each_row_with_port TEST [ARGS...] : every contender in turn, on its PORT
    local test=$1 row pids; shift
    for row in "${ROWS[@]}"; do
        pids=
        # The contender's processes, for its CPU time and memory.
        case $test in connrate|idle) pids=${PIDS_OF[$row]} ;; esac
        echo "-- $row $test"
        # shellcheck disable=SC2086 # pids is "--pid N" or empty
        measure "$row" "$test" "${PORT[$row]}" "$@" $pids
    done
}

start_sink bulk
for _ in $(seq 1 $RUNS); do
    each_row_with_port bulk --streams 1 --duration $BULK_SECS
    each_row_with_port bulk --streams 16 --duration $BULK_SECS
done
start_sink answer
for _ in $(seq 1 $RUNS); do
    each_row_with_port connrate --workers $CONN_WORKERS --duration $CONN_SECS
done
each_row_with_port latency --rate $LAT_RATE --duration $LAT_SECS
# Memory last: sslh-select does not survive its idle test (FD_SETSIZE).
each_row_with_port idle --count $IDLE_COUNT --open-timeout $IDLE_OPEN_TIMEOUT
for pid in $GW $HP $NG $SF $SS; do stop_pid "$pid"; done
fi   # ONLY != tunnel

# ---- Portico tunnel (plain delivery) ---------------------------------------------------------
echo "== portico tunnel (gateway -> QUIC link -> portico-tunnel, source = \"tunnel\")"
RUST_LOG=warn "$GATEWAY" --config "$W/tunnel-gateway.toml" 2>"$W/tunnel-gateway.log" &
TG=$!; track $TG
if ! wait_port $P_TUN_GW || ! wait_port $P_TUN_LINK udp; then
    not_measured portico-tunnel "the gateway opened no tunnel listener on UDP $P_TUN_LINK ($(tail -1 "$W/tunnel-gateway.log"))"
else
    RUST_LOG=warn "$TUNNEL" --config "$W/tunnel-client.toml" 2>"$W/tunnel-client.log" &
    TC=$!; track $TC
    if wait_through $P_TUN_GW; then   # the client dials out first
        tunnel_suite portico-tunnel $P_TUN_GW
    else
        not_measured portico-tunnel "no connection got through the tunnel in 10 s ($(tail -1 "$W/tunnel-client.log" | cut -c1-160))"
    fi
    stop_pid $TC
fi
stop_pid $TG

# ---- rathole -----------------------------------------------------------------------------------
for variant in tcp noise tls; do
    case $variant in
        tcp) svc=$P_RH_TCP_SVC; ctl=$P_RH_TCP_CTL ;;
        noise) svc=$P_RH_NOISE_SVC; ctl=$P_RH_NOISE_CTL ;;
        tls) svc=$P_RH_TLS_SVC; ctl=$P_RH_TLS_CTL ;;
    esac
    echo "== rathole ($variant transport)"
    "$RATHOLE" -s "$W/rathole-$variant-server.toml" >"$W/rathole-$variant-server.log" 2>&1 &
    RS=$!; track $RS; wait_port "$ctl"
    "$RATHOLE" -c "$W/rathole-$variant-client.toml" >"$W/rathole-$variant-client.log" 2>&1 &
    RC=$!; track $RC
    if wait_port "$svc" && wait_through "$svc"; then
        tunnel_suite "rathole-$variant" "$svc"
    else
        not_measured "rathole-$variant" "nothing got through in 10 s ($(tail -1 "$W/rathole-$variant-client.log" | cut -c1-160))"
    fi
    stop_pid $RC; stop_pid $RS
done
stop_pid "$SINK_PID"; SINK_PID=
if [ -z "$ONLY" ]; then
    forward_suite
    udp_suite
fi

# ---- report ------------------------------------------------------------------------------------
versions() {
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; kernel $(uname -r)"
    echo "- portico-gateway / portico-tunnel: $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- gateway tunnel-client link sniff config || echo ' + local changes') (release build)"
    if [ "$ONLY" != tunnel ]; then
        echo "- $(haproxy -v | head -1)"
        echo "- $(nginx -v 2>&1) with libnginx-mod-stream $(dpkg-query -W -f='${Version}' libnginx-mod-stream 2>/dev/null)"
        echo "- $(sslh -V 2>&1 | head -1); $(sslh-select -V 2>&1 | head -1)"
    fi
    echo "- rathole $("$RATHOLE" --version 2>&1 | sed -n 's/^Build Version: *//p') (crates.io, default features: tls via native-tls, noise)"
    echo "- $(rustc --version)"
    echo "- run: $STARTED, \`bench/run.sh$([ "$MODE" = smoke ] && echo ' --smoke')$([ "$ONLY" = tunnel ] && echo ' --only tunnel')\`; open-file limit $FD_LIMIT, idle connections $IDLE_COUNT"
    echo "- load average (1/5/15 min) before: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the cores)"
}
versions > "$W/machine.md"
if [ "$ONLY" = tunnel ]; then
    # The tunnel table of bench/report.py, and in smoke mode its checks.
    (cd "$ROOT/bench" && PYTHONDONTWRITEBYTECODE=1 python3 - "$RESULTS" "$W/machine.md" "$MODE" <<'PY'
import sys
import report
rows = report.load(sys.argv[1])
print(open(sys.argv[2], encoding="utf-8").read().rstrip("\n"))
print("\n".join([""] + report.tunnel_table(rows)))
bad = report.problems(rows) if sys.argv[3] == "smoke" else []
if bad:
    print("\nsmoke FAILED:\n  " + "\n  ".join(bad))
    sys.exit(1)
PY
    )
    exit $?
fi
REPORT_ARGS=(--results "$RESULTS" --machine "$W/machine.md" --mode "$MODE")
[ "$MODE" = full ] && REPORT_ARGS+=(--doc "$DOC")
python3 "$ROOT/bench/report.py" "${REPORT_ARGS[@]}"
