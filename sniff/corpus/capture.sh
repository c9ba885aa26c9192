#!/bin/bash
# Re-captures the real first flights of sniff/corpus from programs on loopback.
# Usage: sniff/corpus/capture.sh [NAME...]   (no NAME: all of them)
# Needs: curl openssl chromium python3-slixmpp openssh-client haproxy (apt-get install ...).
# Every listener binds 127.0.0.1:0 or [::1]:0; nothing leaves the host.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CAP="/usr/bin/python3 $HERE/capture.py"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# capture NAME [--v6] [--socks5] -- CLIENT COMMAND (PORT in the command is
# replaced by the listener's port; --socks5: the listener answers the SOCKS5
# greeting and authentication, see capture.py)
capture() {
  local name=$1; shift
  local flags=()
  while [ "$1" = "--v6" ] || [ "$1" = "--socks5" ]; do flags+=("$1"); shift; done
  [ "$1" = "--" ] && shift
  rm -f "$WORK/port"
  $CAP "$HERE/$name.bin" "$WORK/port" "${flags[@]}" &
  local cap=$!
  for _ in $(seq 1 500); do [ -s "$WORK/port" ] && break; sleep 0.01; done
  local port; port=$(cat "$WORK/port")
  local cmd=("${@//PORT/$port}")
  echo "+ ${cmd[*]}" >&2
  timeout 10 "${cmd[@]}" </dev/null >/dev/null 2>&1 || true
  wait "$cap"
}

want() { [ -z "$WANTED" ] || [[ " $WANTED " == *" $1 "* ]]; }
WANTED="$*"

want curl_http11 && capture curl_http11 -- curl -sS -m 3 --resolve a.test:PORT:127.0.0.1 'http://a.test:PORT/x?y=1'
want curl_proxy_absolute && capture curl_proxy_absolute -- curl -sS -m 3 -x http://127.0.0.1:PORT http://b.test/
want curl_http10_nohost && capture curl_http10_nohost -- curl -sS -m 3 -0 -H 'Host:' http://127.0.0.1:PORT/
want curl_http_v6 && capture curl_http_v6 --v6 -- curl -sS -m 3 -g 'http://[::1]:PORT/v6'
want curl_h2_prior_knowledge && capture curl_h2_prior_knowledge -- curl -sS -m 3 --http2-prior-knowledge --resolve a.test:PORT:127.0.0.1 http://a.test:PORT/
want curl_tls_h2 && capture curl_tls_h2 -- curl -sS -m 3 -k --resolve a.test:PORT:127.0.0.1 https://a.test:PORT/
want curl_tls_http11 && capture curl_tls_http11 -- curl -sS -m 3 -k --http1.1 --resolve a.test:PORT:127.0.0.1 https://a.test:PORT/
want curl_tls_ip_nosni && capture curl_tls_ip_nosni -- curl -sS -m 3 -k https://127.0.0.1:PORT/
want openssl_tls13 && capture openssl_tls13 -- openssl s_client -connect 127.0.0.1:PORT -servername b.test -alpn h2,http/1.1
want openssl_tls12 && capture openssl_tls12 -- openssl s_client -connect 127.0.0.1:PORT -servername b.test -alpn h2,http/1.1 -tls1_2
want chromium_pq && capture chromium_pq -- chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$WORK/chromium" \
  --host-resolver-rules="MAP pq.test 127.0.0.1" https://pq.test:PORT/
want slixmpp_c2s && capture slixmpp_c2s -- /usr/bin/python3 "$HERE/slixmpp_client.py" PORT
want ssh_banner && capture ssh_banner -- ssh -p PORT -o BatchMode=yes -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 127.0.0.1
want curl_connect_auth && capture curl_connect_auth -- curl -sS -m 3 -x http://127.0.0.1:PORT -U alice:s3cret https://nas.test/
want curl_socks5_auth && capture curl_socks5_auth -- curl -sS -m 3 --socks5-hostname 127.0.0.1:PORT -U alice:s3cret http://nas.test/
want curl_socks5 && capture curl_socks5 -- curl -sS -m 3 --socks5-hostname 127.0.0.1:PORT http://nas.test/
want curl_socks5_exchange_name && capture curl_socks5_exchange_name --socks5 -- curl -sS -m 3 --socks5-hostname 127.0.0.1:PORT -U alice:s3cret http://nas.test/
want curl_socks5_exchange_v4 && capture curl_socks5_exchange_v4 --socks5 -- curl -sS -m 3 --socks5 127.0.0.1:PORT -U alice:s3cret http://192.0.2.10:8080/
want curl_socks5_exchange_v6 && capture curl_socks5_exchange_v6 --socks5 -- curl -sS -m 3 --socks5 127.0.0.1:PORT -U alice:s3cret 'http://[2001:db8::10]:8443/'
want curl_proxy_v1 && capture curl_proxy_v1 -- curl -sS -m 3 --haproxy-protocol --resolve a.test:PORT:127.0.0.1 http://a.test:PORT/pp1

if want haproxy_v2_curl; then
  # HAProxy in TCP mode in front of the capture listener, sending a PROXY v2 header.
  HP_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -f "$WORK/port"
  $CAP "$HERE/haproxy_v2_curl.bin" "$WORK/port" &
  cap=$!
  for _ in $(seq 1 500); do [ -s "$WORK/port" ] && break; sleep 0.01; done
  cat > "$WORK/haproxy.cfg" <<CFG
defaults
    mode tcp
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$HP_PORT
    default_backend be
backend be
    server cap 127.0.0.1:$(cat "$WORK/port") send-proxy-v2
CFG
  haproxy -db -f "$WORK/haproxy.cfg" >/dev/null 2>&1 &
  hp=$!
  for _ in $(seq 1 500); do ss -Hltn "sport = :$HP_PORT" | grep -q . && break; sleep 0.01; done
  echo "+ curl -sS -m 3 --resolve a.test:$HP_PORT:127.0.0.1 http://a.test:$HP_PORT/pp2 (via haproxy send-proxy-v2)" >&2
  timeout 10 curl -sS -m 3 --resolve "a.test:$HP_PORT:127.0.0.1" "http://a.test:$HP_PORT/pp2" >/dev/null 2>&1 || true
  wait "$cap"
  kill "$hp"; wait "$hp" 2>/dev/null || true
fi
