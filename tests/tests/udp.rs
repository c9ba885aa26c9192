//! `[[udp_listener]]`s with real peers on loopback: `dig` to Unbound through
//! an `other` listener from many source ports at once, over IPv4 and IPv6;
//! HTTP/3 with aioquic routed by SNI to two aioquic servers, in QUIC v1, v2
//! and v1 switched to v2, with a ClientHello in one Initial packet and
//! spread over two; an unknown name that fails and is counted; hostile
//! datagrams and a flood of new flows past `max_flows` that reach no backend
//! they should not, while the gateway goes on serving; headless Chromium
//! loading a page over HTTP/3 from Caddy through the gateway on UDP 443.
//!
//! Needs unbound, dig (bind9-dnsutils), python3 with aioquic (pip), caddy,
//! chromium, openssl, curl, root (port 443) and the built binaries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portico_tests::aioquic::{H3Server, QuicVersion, first_flight, h3_get};
use portico_tests::caddy::Caddy;
use portico_tests::certs::TestCa;
use portico_tests::clients::dig;
use portico_tests::config::{admin, route, udp_listener};
use portico_tests::gateway::Gateway;
use portico_tests::metrics::Metrics;
use portico_tests::net::{eventually, free_port, v4};
use portico_tests::process::{run, run_bounded};
use portico_tests::tools::require;
use portico_tests::udp::{
    client_socket, free_udp_port_on, free_udp_ports_on, is_bound_udp, receive,
};
use portico_tests::udp_counter::UdpCounter;
use portico_tests::unbound::Unbound;

/// The name Unbound answers, and its address.
const DNS_NAME: &str = "app.portico.test";
const DNS_ANSWER: &str = "192.0.2.7";

/// The two HTTP/3 backends' names (and certificates).
const A: &str = "a.portico.test";
const B: &str = "b.portico.test";

/// How long an aioquic client that should succeed may try.
const H3_CLIENT_BOUND: Duration = Duration::from_secs(8);
/// How long an aioquic client that should fail tries before it gives up.
const H3_REFUSED_BOUND: Duration = Duration::from_secs(3);

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A free UDP address on `ip`.
fn udp_addr(ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, free_udp_port_on(ip))
}

/// A route of protocol `other` for every flow of the UDP listener `listener`.
fn other_route(listener: &str, backend: SocketAddr) -> String {
    route(
        &["*"],
        backend,
        &[
            "protocols = [\"other\"]",
            &format!("listeners = [\"{listener}\"]"),
        ],
    )
}

/// A route of protocol `quic` for `name`.
fn quic_route(name: &str, backend: SocketAddr) -> String {
    route(&[name], backend, &["protocols = [\"quic\"]"])
}

/// `metric{listener="<listener>",<label>}`.
fn series(metric: &str, listener: &str, label: &str) -> String {
    format!("{metric}{{listener=\"{listener}\",{label}}}")
}

/// Waits until the listener has no flow open (idle and unfinished flows
/// swept); panics with the metrics otherwise.
fn wait_no_flows(admin: SocketAddr, listener: &str) {
    let open = format!("portico_udp_open_flows{{listener=\"{listener}\"}}");
    assert!(
        eventually(|| Metrics::scrape(admin).value(&open) == 0),
        "flows still open on {listener}:\n{}",
        Metrics::scrape(admin).text()
    );
}

// ---------------------------------------------------------------- DNS

/// `clients` dig processes at once, each from a source port of its own,
/// through an `other` listener on `ip` to Unbound on `ip`.
fn dig_through_the_gateway(ip: IpAddr, clients: usize) {
    let unbound = Unbound::start(udp_addr(ip), &["app.portico.test. A 192.0.2.7"]);
    let listen = udp_addr(ip);
    let admin_addr = v4(free_port());
    let toml = [
        udp_listener("dns", listen, &["other"], &[]),
        other_route("dns", unbound.addr()),
        admin(admin_addr),
    ]
    .concat();
    let mut gateway = Gateway::start(&toml);

    let sources: Vec<SocketAddr> = free_udp_ports_on(ip, clients)
        .into_iter()
        .map(|port| SocketAddr::new(ip, port))
        .collect();
    let answers = thread::scope(|s| {
        let running: Vec<_> = sources
            .iter()
            .map(|source| s.spawn(move || dig(listen, *source, DNS_NAME)))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().expect("dig thread"))
            .collect::<Vec<_>>()
    });
    for (source, out) in sources.iter().zip(&answers) {
        assert_eq!(
            out.stdout.trim(),
            DNS_ANSWER,
            "dig from {source}: {}\ngateway log:\n{}",
            out.all(),
            gateway.log()
        );
    }

    // Unbound got each query once, from the gateway's side.
    let question = "app.portico.test. A IN";
    assert!(
        eventually(|| unbound.queries(question).len() == clients),
        "unbound log:\n{}",
        unbound.log()
    );
    let client_ip = format!(" info: {ip} ");
    assert!(
        unbound
            .queries(question)
            .iter()
            .all(|l| l.contains(&client_ip)),
        "{}",
        unbound.log()
    );

    // One flow per source port, each one query and one answer.
    let flows = series("portico_udp_flows_total", "dns", "protocol=\"other\"");
    let to_backend = series(
        "portico_udp_datagrams_total",
        "dns",
        "direction=\"to_backend\"",
    );
    let to_client = series(
        "portico_udp_datagrams_total",
        "dns",
        "direction=\"to_client\"",
    );
    let open = "portico_udp_open_flows{listener=\"dns\"}";
    let n = clients as u64;
    assert!(
        eventually(|| {
            let m = Metrics::scrape(admin_addr);
            m.value(&flows) == n
                && m.value(open) == n
                && m.value(&to_backend) == n
                && m.value(&to_client) == n
        }),
        "{}",
        Metrics::scrape(admin_addr).text()
    );
    let m = Metrics::scrape(admin_addr);
    assert_eq!(
        m.sum("portico_udp_drops_total{listener=\"dns\","),
        0,
        "{}",
        m.text()
    );
    gateway.assert_running();
}

#[test]
fn dig_reaches_unbound_through_an_other_listener_from_many_source_ports() {
    dig_through_the_gateway(LOCALHOST, 30);
}

#[test]
fn dig_reaches_unbound_through_an_other_listener_over_ipv6() {
    dig_through_the_gateway(IpAddr::V6(Ipv6Addr::LOCALHOST), 10);
}

// ---------------------------------------------------------------- HTTP/3

/// Two aioquic HTTP/3 servers (one per name, each answering
/// `backend=<name>`) behind a `quic` listener of the gateway.
struct H3Scene {
    listen: SocketAddr,
    admin: SocketAddr,
    ca: TestCa,
    a: H3Server,
    b: H3Server,
    gateway: Gateway,
    _dir: tempfile::TempDir,
}

impl H3Scene {
    fn start() -> H3Scene {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::create(dir.path(), &[A, B]);
        let server = |name: &str| {
            H3Server::start(
                udp_addr(LOCALHOST),
                &ca.cert(name),
                &ca.key(name),
                &format!("backend={name}"),
            )
        };
        let (a, b) = (server(A), server(B));
        let listen = udp_addr(LOCALHOST);
        let admin_addr = v4(free_port());
        let toml = [
            udp_listener("h3", listen, &["quic"], &[]),
            quic_route(A, a.addr()),
            quic_route(B, b.addr()),
            admin(admin_addr),
        ]
        .concat();
        let gateway = Gateway::start(&toml);
        H3Scene {
            listen,
            admin: admin_addr,
            ca,
            a,
            b,
            gateway,
            _dir: dir,
        }
    }

    /// One GET for `name` that must be answered by its own backend.
    fn get_ok(&self, name: &str, version: QuicVersion, big_hello: bool) {
        let answer = h3_get(
            self.listen,
            name,
            &self.ca.ca(),
            version,
            big_hello,
            H3_CLIENT_BOUND,
        );
        let what = format!("{name} {version:?} big_hello={big_hello}");
        assert_eq!(
            answer.status.as_deref(),
            Some("200"),
            "{what}: {}\ngateway log:\n{}",
            answer.output.all(),
            self.gateway.log()
        );
        assert_eq!(
            answer.body.as_deref(),
            Some(format!("backend={name}").as_str()),
            "{what}"
        );
        assert_eq!(
            answer.version.as_deref(),
            Some(version.negotiated()),
            "{what}"
        );
    }
}

#[test]
fn http3_is_routed_by_sni_in_quic_v1_and_v2_with_a_hello_in_one_or_two_initials() {
    // The premise of the "big" case: aioquic spreads that ClientHello over
    // two Initial packets in two datagrams, the usual one fits in one.
    for version in [QuicVersion::V1, QuicVersion::V2] {
        assert_eq!(first_flight(A, version, false).len(), 1, "{version:?}");
        assert_eq!(first_flight(A, version, true).len(), 2, "{version:?}");
    }
    let scene = H3Scene::start();
    let versions = [QuicVersion::V1, QuicVersion::V2, QuicVersion::V1ThenV2];
    let mut requests = 0;
    for big_hello in [false, true] {
        for version in versions {
            for name in [A, B] {
                scene.get_ok(name, version, big_hello);
                requests += 1;
            }
        }
    }
    // Each backend answered its own requests only, in the version asked for.
    for (server, name) in [(&scene.a, A), (&scene.b, B)] {
        assert!(server.wait_requests(requests / 2), "{name}");
        let lines = server.requests();
        assert_eq!(lines.len(), requests / 2, "{name}: {lines:?}");
        let v2 = lines.iter().filter(|l| l.ends_with("0x6b3343cf")).count();
        assert_eq!(v2, requests / 3, "{name}: {lines:?}");
    }
    let m = Metrics::scrape(scene.admin);
    assert_eq!(
        m.value(&series(
            "portico_udp_flows_total",
            "h3",
            "protocol=\"quic\""
        )),
        requests as u64,
        "one flow per connection:\n{}",
        m.text()
    );
    assert_eq!(
        m.sum("portico_refusals_total{listener=\"h3\","),
        0,
        "{}",
        m.text()
    );
}

#[test]
fn http3_to_an_unknown_name_fails_and_is_refused_as_no_route() {
    let scene = H3Scene::start();
    let answer = h3_get(
        scene.listen,
        "zzz.portico.test",
        &scene.ca.ca(),
        QuicVersion::V1,
        false,
        H3_REFUSED_BOUND,
    );
    assert!(
        answer.status.is_none() && answer.output.stdout.contains("FAILED"),
        "the client must fail: {}",
        answer.output.all()
    );
    let m = Metrics::scrape(scene.admin);
    let refused = "portico_refusals_total{listener=\"h3\",protocol=\"quic\",reason=\"no_route\"}";
    assert_eq!(m.value(refused), 1, "one refusal per flow:\n{}", m.text());
    assert!(
        m.value(&series(
            "portico_udp_drops_total",
            "h3",
            "reason=\"no_route\""
        )) >= 1,
        "{}",
        m.text()
    );
    assert!(
        scene
            .gateway
            .wait_log_line(&["UDP flow dropped", "zzz.portico.test", "no_route"]),
        "{}",
        scene.gateway.log()
    );
    assert!(scene.a.requests().is_empty() && scene.b.requests().is_empty());
    // The listener goes on serving known names.
    scene.get_ok(A, QuicVersion::V1, false);
}

// ---------------------------------------------------------------- hostile

/// A small deterministic generator (xorshift64*), so a failing run can be
/// repeated byte for byte.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

/// `datagram` with its QUIC version (bytes 1..5) replaced.
fn with_version(datagram: &[u8], version: u32) -> Vec<u8> {
    let mut d = datagram.to_vec();
    d[1..5].copy_from_slice(&version.to_be_bytes());
    d
}

/// Datagrams that a `quic` listener must not forward, each to be sent from
/// a source port of its own: random bytes, truncated and bit-flipped copies
/// of a real Initial (only bits inside its QUIC packet are flipped: the
/// zeros aioquic pads the datagram with after the packet are not
/// authenticated by QUIC, so a flip there still carries a valid hello),
/// unknown and reserved versions, long headers of other packet types.
fn hostile_datagrams(initial: &[u8], packet_len: usize) -> Vec<Vec<u8>> {
    let mut rng = Xorshift(0x5eed_0f90_127c_0001);
    let mut out = Vec::new();
    for len in [0, 1, 4, 6, 7, 30, 200, 1199, 1200, 1200, 1350, 1500] {
        out.push(rng.bytes(len));
    }
    for len in [1, 5, 6, 20, 60, 300, packet_len - 1, packet_len, 600, 1199] {
        out.push(initial[..len].to_vec());
    }
    for i in 0..20 {
        let byte = usize::try_from(rng.next() % packet_len as u64).expect("small");
        let mut d = initial.to_vec();
        d[byte] ^= 1 << (i % 8);
        out.push(d);
    }
    for version in [0, 0x1a2a_3a4a, 0xff00_001d, 3] {
        out.push(with_version(initial, version));
    }
    out.push(with_version(&initial[..1199], 0x1a2a_3a4a));
    // Handshake, 0-RTT and Retry long headers (v1) in place of the Initial.
    for first in [0xe0, 0xd0, 0xf0] {
        let mut d = initial.to_vec();
        d[0] = first | (d[0] & 0x0f);
        out.push(d);
    }
    // A short header.
    let mut d = rng.bytes(1200);
    d[0] = 0x40 | (d[0] & 0x3f);
    out.push(d);
    out
}

/// Sends `datagrams` to `to`, each from a new socket (so each opens a flow
/// of its own), in batches; after each batch `settled(sent so far)` waits
/// until the listener has taken the batch, so that no datagram is lost in
/// a full socket buffer. Returns the sockets, to read answers from.
fn send_in_batches(
    to: SocketAddr,
    datagrams: &[Vec<u8>],
    mut settled: impl FnMut(usize),
) -> Vec<UdpSocket> {
    const BATCH: usize = 10;
    let mut sockets = Vec::new();
    for batch in datagrams.chunks(BATCH) {
        for d in batch {
            let socket = client_socket(LOCALHOST, Duration::from_millis(200));
            socket.send_to(d, to).expect("send datagram");
            sockets.push(socket);
        }
        settled(sockets.len());
    }
    sockets
}

/// Sends a datagram that is not QUIC to the `quic` listener `listener` at
/// `to` (dropped at once as `not_quic`, no flow kept) and waits until it is
/// counted: every datagram sent before it has then been read.
fn barrier(to: SocketAddr, admin: SocketAddr, listener: &str) {
    let not_quic = series("portico_udp_drops_total", listener, "reason=\"not_quic\"");
    let before = Metrics::scrape(admin).value(&not_quic);
    let probe = client_socket(LOCALHOST, Duration::from_millis(200));
    probe.send_to(b"\x01barrier", to).expect("send barrier");
    assert!(
        eventually(|| Metrics::scrape(admin).value(&not_quic) > before),
        "barrier not counted:\n{}",
        Metrics::scrape(admin).text()
    );
}

#[test]
fn hostile_datagrams_and_a_flood_of_flows_reach_no_backend_and_the_gateway_keeps_serving() {
    const MAX_FLOWS: usize = 50;
    const FLOOD: usize = 120;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::create(dir.path(), &[B]);
    // A: a recorder standing in for a QUIC backend; B: a real one.
    let counter_a = UdpCounter::start(LOCALHOST);
    let b = H3Server::start(
        udp_addr(LOCALHOST),
        &ca.cert(B),
        &ca.key(B),
        &format!("backend={B}"),
    );
    // A port forward on another listener: nothing sent to the QUIC
    // listener may ever reach it.
    let counter_other = UdpCounter::start(LOCALHOST);
    let (listen, dns) = (udp_addr(LOCALHOST), udp_addr(LOCALHOST));
    let admin_addr = v4(free_port());
    let caps = [
        format!("max_flows = {MAX_FLOWS}"),
        format!("max_flows_per_ip = {MAX_FLOWS}"),
        "flow_idle = \"2s\"".to_owned(),
        "peek_timeout = \"2s\"".to_owned(),
    ];
    let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
    let toml = [
        udp_listener("h3", listen, &["quic"], &caps),
        udp_listener("dns", dns, &["other"], &[]),
        quic_route(A, counter_a.addr()),
        quic_route(B, b.addr()),
        other_route("dns", counter_other.addr()),
        admin(admin_addr),
    ]
    .concat();
    let mut gateway = Gateway::start(&toml);
    let flight = first_flight(A, QuicVersion::V1, false);
    let (packet_len, initial) = flight[0].clone();

    // 1. Hostile datagrams, each from its own source port.
    let hostile = hostile_datagrams(&initial, packet_len);
    let mut barriers = 0;
    let sockets = send_in_batches(listen, &hostile, |_| {
        barrier(listen, admin_addr, "h3");
        barriers += 1;
    });
    // Every datagram is dropped and counted once (a flow still reading is
    // counted when it times out), and no flow is left.
    let drops = "portico_udp_drops_total{listener=\"h3\",";
    let expected = hostile.len() as u64 + barriers;
    assert!(
        eventually(|| Metrics::scrape(admin_addr).sum(drops) >= expected),
        "{}",
        Metrics::scrape(admin_addr).text()
    );
    wait_no_flows(admin_addr, "h3");
    let m = Metrics::scrape(admin_addr);
    assert_eq!(m.sum(drops), expected, "{}", m.text());
    for reason in [
        "not_quic",
        "invalid_quic",
        "unknown_version",
        "peek_timeout",
    ] {
        let s = series(
            "portico_udp_drops_total",
            "h3",
            &format!("reason=\"{reason}\""),
        );
        assert!(m.value(&s) > 0, "{reason}:\n{}", m.text());
    }
    assert_eq!(
        m.value(&series(
            "portico_udp_flows_total",
            "h3",
            "protocol=\"quic\""
        )),
        0,
        "{}",
        m.text()
    );
    // Unknown versions in a datagram of at least 1,200 bytes are answered with Version
    // Negotiation offering v1 and v2, from the listener's address.
    let mut negotiations = 0;
    for (socket, sent) in sockets.iter().zip(&hostile) {
        socket.set_nonblocking(true).expect("nonblocking");
        if let Some((answer, from)) = receive(socket) {
            assert_eq!(from, listen);
            assert!(
                sent.len() >= 1200,
                "only datagrams of Initial size are answered: {} bytes",
                sent.len()
            );
            assert_eq!(&answer[1..5], &[0, 0, 0, 0], "a Version Negotiation packet");
            let versions: Vec<&[u8]> = answer[answer.len() - 8..].chunks(4).collect();
            assert_eq!(versions, [&[0, 0, 0, 1][..], &[0x6b, 0x33, 0x43, 0xcf][..]]);
            negotiations += 1;
        }
    }
    assert!(
        negotiations >= 3,
        "{negotiations} Version Negotiation answers"
    );

    // 2. A flood of new flows, each a real Initial for A: only MAX_FLOWS
    // are opened and forwarded, unchanged; the others are dropped. (A
    // barrier datagram would itself be over the cap: wait for the count of
    // routed and refused flows instead.)
    let flows = series("portico_udp_flows_total", "h3", "protocol=\"quic\"");
    let over = series("portico_udp_drops_total", "h3", "reason=\"flow_limit\"");
    let flood = vec![initial.clone(); FLOOD];
    let _flood_sockets = send_in_batches(listen, &flood, |sent| {
        assert!(
            eventually(|| {
                let m = Metrics::scrape(admin_addr);
                m.value(&flows) + m.value(&over) == sent as u64
            }),
            "{}",
            Metrics::scrape(admin_addr).text()
        );
    });
    assert!(
        eventually(|| counter_a.received().len() >= MAX_FLOWS),
        "{}",
        Metrics::scrape(admin_addr).text()
    );
    let m = Metrics::scrape(admin_addr);
    assert_eq!(m.value(&flows), MAX_FLOWS as u64, "{}", m.text());
    assert_eq!(m.value(&over), (FLOOD - MAX_FLOWS) as u64, "{}", m.text());
    let received = counter_a.received();
    assert_eq!(received.len(), MAX_FLOWS);
    assert_eq!(counter_a.sources().len(), MAX_FLOWS, "one socket per flow");
    assert!(
        received.iter().all(|(_, d)| *d == initial),
        "forwarded unchanged"
    );
    assert!(counter_other.received().is_empty());
    assert!(b.requests().is_empty());

    // 3. Once the flood's flows are idle, a good client is served, and the
    // port forward still works (its recorder would have seen a leak).
    wait_no_flows(admin_addr, "h3");
    gateway.assert_running();
    let answer = h3_get(listen, B, &ca.ca(), QuicVersion::V1, false, H3_CLIENT_BOUND);
    assert_eq!(
        answer.body.as_deref(),
        Some(format!("backend={B}").as_str()),
        "{}\ngateway log:\n{}",
        answer.output.all(),
        gateway.log()
    );
    let probe = client_socket(LOCALHOST, Duration::from_millis(200));
    probe.send_to(b"port forward", dns).expect("send");
    assert!(eventually(|| counter_other.received().len() == 1));
    assert_eq!(counter_other.received()[0].1, b"port forward");
    assert_eq!(
        counter_a.received().len(),
        MAX_FLOWS,
        "nothing more reached A"
    );
    gateway.assert_running();
}

// ---------------------------------------------------------------- Chromium

/// The name Chromium asks for, on port 443.
const WEB: &str = "app.portico.test";

/// Bound on one Chromium run: it starts a browser, so more than curl.
const CHROMIUM_BOUND: Duration = Duration::from_secs(60);

/// A loopback address of this test run whose UDP port 443 is free (the
/// gateway binds it: Chromium speaks QUIC to port 443 only when forced).
fn loopback_with_free_443() -> SocketAddr {
    let run = u8::try_from(std::process::id() % 200).expect("small") + 20;
    (2..250)
        .map(|host| SocketAddr::from(([127, 77, run, host], 443)))
        .find(|addr| !is_bound_udp(*addr))
        .expect("a loopback address with UDP 443 free")
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the certificate `cert`, for
/// Chromium's `--ignore-certificate-errors-spki-list`.
fn spki_sha256(cert: &Path, dir: &Path) -> String {
    let openssl = require("openssl", "openssl");
    let step = |args: &[&str]| {
        let out = run_bounded(Command::new(&openssl).args(args).current_dir(dir));
        assert!(out.status.success(), "openssl {args:?}: {}", out.all());
    };
    let cert = cert.to_str().expect("UTF-8 path");
    step(&["x509", "-in", cert, "-pubkey", "-noout", "-out", "spki.pem"]);
    step(&[
        "pkey", "-pubin", "-in", "spki.pem", "-outform", "der", "-out", "spki.der",
    ]);
    step(&[
        "dgst",
        "-sha256",
        "-binary",
        "-out",
        "spki.sha256",
        "spki.der",
    ]);
    let digest = std::fs::read(dir.join("spki.sha256")).expect("digest");
    STANDARD.encode(digest)
}

#[test]
fn headless_chromium_loads_a_page_over_http3_from_caddy_through_the_gateway() {
    let chromium = require("chromium", "chromium");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::create(dir.path(), &[WEB]);
    let caddy = Caddy::start(v4(free_port()), WEB, &ca.cert(WEB), &ca.key(WEB), "caddy");
    // Only UDP on the gateway's address: the page can come over QUIC only.
    let listen = loopback_with_free_443();
    let admin_addr = v4(free_port());
    let toml = [
        udp_listener("h3", listen, &["quic"], &[]),
        quic_route(WEB, caddy.addr()),
        admin(admin_addr),
    ]
    .concat();
    let gateway = Gateway::start(&toml);
    let spki = spki_sha256(&ca.cert(WEB), dir.path());
    let rules = format!(
        "--host-resolver-rules=MAP {WEB} {}, MAP * ~NOTFOUND",
        listen.ip()
    );
    let out = run(
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                "--ignore-certificate-errors",
                "--enable-quic",
                &format!("--origin-to-force-quic-on={WEB}:443"),
                &format!("--ignore-certificate-errors-spki-list={spki}"),
                &rules,
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("chromium-profile").display()
            ))
            .args(["--dump-dom", &format!("https://{WEB}/")]),
        CHROMIUM_BOUND,
    );
    let stderr_tail: Vec<&str> = out.stderr.lines().rev().take(30).collect();
    assert!(
        out.stdout.contains("backend=caddy proto=HTTP/3.0"),
        "chromium did not get the page over HTTP/3 ({}):\nstdout:\n{}\nstderr (tail):\n{}\n\
         gateway log:\n{}\ncaddy log:\n{}",
        out.status,
        out.stdout,
        stderr_tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        gateway.log(),
        caddy.log()
    );
    let m = Metrics::scrape(admin_addr);
    assert!(
        m.value(&series(
            "portico_udp_flows_total",
            "h3",
            "protocol=\"quic\""
        )) >= 1,
        "{}",
        m.text()
    );
}
