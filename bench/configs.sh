# Configurations of every contender for bench/run.sh, sourced by it (uses
# its P_* port variables and FD_LIMIT / PROXY_MAXCONN). Each proxy has the same single rule: TLS with SNI
# a.test goes to the sink at 127.0.0.1:$P_SINK, and nothing else is routed.

write_configs() {   # write_configs DIR
    local d=$1
    mkdir -p "$d/nginx" "$d/certs"

    # -- test CA and a leaf for 127.0.0.1/localhost: the Portico link and rathole's TLS transport
    (
        cd "$d/certs"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -keyout ca.key -out ca.pem -subj "/CN=portico bench CA" \
            -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout leaf.key -out leaf.csr -subj "/CN=localhost" 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' > leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile leaf.ext -out leaf.pem 2>/dev/null
        openssl pkcs12 -export -inkey leaf.key -in leaf.pem -certfile ca.pem \
            -passout pass:bench -out leaf.p12 2>/dev/null
        openssl rand -hex 32 > bench.token
        chmod 600 bench.token leaf.key ca.key
    )

    # -- portico-gateway
    cat > "$d/portico.toml" <<EOF
[[listener]]
bind = "127.0.0.1:$P_PORTICO"
protocols = ["tls"]
peek_timeout = "5s"

[[route]]
hosts = ["a.test"]
backend = "127.0.0.1:$P_SINK"

[limits]
max_connections = 50000
max_connections_per_ip = 50000
shutdown_grace = "0s"
EOF

    # -- HAProxy (tcp mode; threads default to one per core)
    cat > "$d/haproxy.cfg" <<EOF
global
    maxconn $PROXY_MAXCONN

defaults
    mode tcp
    timeout connect 5s
    timeout client  120s
    timeout server  120s

frontend sni_in
    bind 127.0.0.1:$P_HAPROXY
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend be_sink if { req.ssl_sni -i a.test }

backend be_sink
    server sink 127.0.0.1:$P_SINK
EOF

    # -- nginx stream with ssl_preread (one worker per core)
    cat > "$d/nginx/nginx.conf" <<EOF
load_module $NGX_STREAM;
worker_processes auto;
worker_rlimit_nofile $FD_LIMIT;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log warn;
events { worker_connections $((FD_LIMIT - 100)); }   # counts client and upstream sides, per worker

stream {
    map \$ssl_preread_server_name \$sni_backend {
        a.test 127.0.0.1:$P_SINK;
    }
    server {
        listen 127.0.0.1:$P_NGINX;
        ssl_preread on;
        preread_timeout 5s;
        proxy_pass \$sni_backend;
    }
}
EOF

    # -- sslh 1.20 (libconfig): the same file for sslh-fork and sslh-select, but for the port
    local kind port
    for kind in fork select; do
        port=$P_SSLH_FORK
        [ $kind = select ] && port=$P_SSLH_SELECT
        cat > "$d/sslh-$kind.cfg" <<EOF
verbose: false;
foreground: true;
inetd: false;
numeric: true;
transparent: false;
timeout: 2;
listen: ( { host: "127.0.0.1"; port: "$port"; } );
protocols: (
  { name: "tls"; host: "127.0.0.1"; port: "$P_SINK"; sni_hostnames: [ "a.test" ]; }
);
EOF
    done

    # -- Portico tunnel: gateway with [tunnels], client with a plain (source = "tunnel") service
    cat > "$d/tunnel-gateway.toml" <<EOF
[[listener]]
bind = "127.0.0.1:$P_TUN_GW"
protocols = ["tls"]
peek_timeout = "5s"

[[route]]
hosts = ["a.test"]
tunnel = "bench"

[tunnels]
bind = "127.0.0.1:$P_TUN_LINK"
cert = "$d/certs/leaf.pem"
key = "$d/certs/leaf.key"

[[tunnel]]
name = "bench"
token_file = "$d/certs/bench.token"

[limits]
max_connections = 50000
max_connections_per_ip = 50000
shutdown_grace = "0s"
EOF
    cat > "$d/tunnel-client.toml" <<EOF
gateway = "127.0.0.1:$P_TUN_LINK"
name = "bench"
token_file = "$d/certs/bench.token"
ca = "$d/certs/ca.pem"

[[service]]
hosts = ["a.test"]
to = "127.0.0.1:$P_SINK"
source = "tunnel"
EOF

    # -- rathole: plain TCP, Noise (NK, 25519/ChaChaPoly/BLAKE2s) and TLS transports
    local keys private public variant ctl svc
    keys=$("$RATHOLE" --genkey)
    private=$(echo "$keys" | sed -n '/Private Key/{n;p}')
    public=$(echo "$keys" | sed -n '/Public Key/{n;p}')
    for variant in tcp noise tls; do
        case $variant in
            tcp) ctl=$P_RH_TCP_CTL; svc=$P_RH_TCP_SVC ;;
            noise) ctl=$P_RH_NOISE_CTL; svc=$P_RH_NOISE_SVC ;;
            tls) ctl=$P_RH_TLS_CTL; svc=$P_RH_TLS_SVC ;;
        esac
        {
            printf '[server]\nbind_addr = "127.0.0.1:%s"\ndefault_token = "bench-token"\n\n' "$ctl"
            case $variant in
                noise) printf '[server.transport]\ntype = "noise"\n[server.transport.noise]\nlocal_private_key = "%s"\n\n' "$private" ;;
                tls) printf '[server.transport]\ntype = "tls"\n[server.transport.tls]\npkcs12 = "%s"\npkcs12_password = "bench"\n\n' "$d/certs/leaf.p12" ;;
            esac
            printf '[server.services.sink]\nbind_addr = "127.0.0.1:%s"\n' "$svc"
        } > "$d/rathole-$variant-server.toml"
        {
            printf '[client]\nremote_addr = "127.0.0.1:%s"\ndefault_token = "bench-token"\n\n' "$ctl"
            case $variant in
                noise) printf '[client.transport]\ntype = "noise"\n[client.transport.noise]\nremote_public_key = "%s"\n\n' "$public" ;;
                tls) printf '[client.transport]\ntype = "tls"\n[client.transport.tls]\ntrusted_root = "%s"\nhostname = "localhost"\n\n' "$d/certs/ca.pem" ;;
            esac
            printf '[client.services.sink]\nlocal_addr = "127.0.0.1:%s"\n' "$P_SINK"
        } > "$d/rathole-$variant-client.toml"
    done
}

# The pure port forward (bench/run.sh --only forward): every contender sends
# 127.0.0.1:PORT to the sink without reading a byte; Portico also detects
# SSH on a second listener.
write_forward_configs() {   # write_forward_configs DIR
    local d=$1
    mkdir -p "$d/forward-nginx"
    cat > "$d/forward-portico.toml" <<EOF
[[listener]]
name = "forward"
bind = "127.0.0.1:$P_PF_PORTICO"
protocols = ["other"]
other_after = "0s"

[[listener]]
name = "ssh"
bind = "127.0.0.1:$P_SSH_PORTICO"
protocols = ["ssh"]

[[route]]
hosts = ["*"]
protocols = ["other", "ssh"]
backend = "127.0.0.1:$P_SINK"

[limits]
max_connections = 50000
max_connections_per_ip = 50000
shutdown_grace = "0s"
EOF

    cat > "$d/forward-haproxy.cfg" <<EOF
global
    maxconn $PROXY_MAXCONN

defaults
    mode tcp
    timeout connect 5s
    timeout client  120s
    timeout server  120s

frontend forward_in
    bind 127.0.0.1:$P_PF_HAPROXY
    default_backend be_sink

backend be_sink
    server sink 127.0.0.1:$P_SINK
EOF

    cat > "$d/forward-nginx/nginx.conf" <<EOF
load_module $NGX_STREAM;
worker_processes auto;
worker_rlimit_nofile $FD_LIMIT;
pid $d/forward-nginx/nginx.pid;
error_log $d/forward-nginx/error.log warn;
events { worker_connections $((FD_LIMIT - 100)); }

stream {
    server {
        listen 127.0.0.1:$P_PF_NGINX;
        proxy_pass 127.0.0.1:$P_SINK;
    }
}
EOF
}

# The UDP forward: Portico's [[udp_listener]] with protocols = ["other"]
# and nginx stream's UDP proxy, both to the UDP echo sink; and Portico's
# QUIC listener routing a.test by SNI to the QUIC bulk sink.
write_udp_configs() {   # write_udp_configs DIR
    local d=$1
    mkdir -p "$d/udp-nginx"
    cat > "$d/udp-portico.toml" <<EOF
[[udp_listener]]
name = "udp"
bind = "127.0.0.1:$P_UDP_PORTICO"
protocols = ["other"]
max_flows_per_ip = 10000

[[route]]
hosts = ["*"]
protocols = ["other"]
listeners = ["udp"]
backend = "127.0.0.1:$P_UDP_SINK"

[[udp_listener]]
name = "h3"
bind = "127.0.0.1:$P_QUIC_PORTICO"
protocols = ["quic"]

[[route]]
hosts = ["a.test"]
protocols = ["quic"]
backend = "127.0.0.1:$P_QUIC_SINK"

[limits]
shutdown_grace = "0s"
EOF

    cat > "$d/udp-nginx/nginx.conf" <<EOF
load_module $NGX_STREAM;
worker_processes auto;
worker_rlimit_nofile $FD_LIMIT;
pid $d/udp-nginx/nginx.pid;
error_log $d/udp-nginx/error.log warn;
events { worker_connections $((FD_LIMIT - 100)); }

stream {
    server {
        listen 127.0.0.1:$P_UDP_NGINX udp reuseport;
        proxy_pass 127.0.0.1:$P_UDP_SINK;
        proxy_timeout 60s;
    }
}
EOF
}
