//! `[[udp_listener]]`s over loopback: `other` datagrams forwarded by
//! listener with replies from the listener's own address, the flow caps,
//! and HTTP/3-style QUIC routed by the SNI of a real QUIC client (quinn)
//! to a real QUIC server, with an unknown name dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_config::model::{Access, UdpListener};
use portico_gateway::Gateway;
use portico_sniff::{Protocol, ProtocolSet};
use tokio::net::UdpSocket;

use crate::pipeline::{config, route};

const LOOPBACK: &str = "127.0.0.1:0";

fn udp_listener(name: &str, protocols: ProtocolSet) -> UdpListener {
    UdpListener {
        name: Some(name.to_owned()),
        bind: LOOPBACK.parse().expect("address"),
        protocols,
        flow_idle: Duration::from_secs(30),
        peek_timeout: Duration::from_secs(5),
        max_flows: 1000,
        max_flows_per_ip: 1000,
    }
}

/// A UDP server that answers each datagram with `tag` + the datagram.
async fn udp_echo(tag: &'static str) -> SocketAddr {
    let socket = UdpSocket::bind(LOOPBACK).await.expect("bind echo");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut reply = tag.as_bytes().to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    addr
}

/// A gateway with only this UDP listener and these routes; its address.
async fn start_udp(
    listener: UdpListener,
    routes: Vec<portico_config::model::Route>,
) -> (Arc<Gateway>, SocketAddr) {
    let mut cfg = config(routes);
    cfg.listeners.clear();
    let bind = listener.bind;
    cfg.udp_listeners = vec![listener];
    let gateway = Gateway::start(cfg, Vec::new())
        .await
        .expect("gateway starts");
    let addr = gateway.udp_local_addr(bind).expect("UDP listener bound");
    (gateway, addr)
}

fn other_route(listener: &str, backend: SocketAddr) -> portico_config::model::Route {
    let mut r = route(&["*"], backend);
    r.protocols = ProtocolSet::only(Protocol::Other);
    r.access = Access {
        listeners: vec![listener.to_owned()],
        ..Access::default()
    };
    r
}

/// Sends `payload` from `socket` to `to` and waits (bounded) for one reply.
async fn ask(socket: &UdpSocket, to: SocketAddr, payload: &[u8]) -> Option<(Vec<u8>, SocketAddr)> {
    socket.send_to(payload, to).await.expect("send");
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(Duration::from_millis(1500), socket.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => Some((buf[..n].to_vec(), from)),
        _ => None,
    }
}

#[tokio::test]
async fn other_datagrams_are_forwarded_per_flow_with_replies_from_the_listener() {
    let echo = udp_echo("dns:").await;
    let (gateway, addr) = start_udp(
        udp_listener("dns", ProtocolSet::only(Protocol::Other)),
        vec![other_route("dns", echo)],
    )
    .await;
    // Many clients, each its own source port, two datagrams each.
    let mut clients = Vec::new();
    for _ in 0..40 {
        clients.push(UdpSocket::bind(LOOPBACK).await.expect("client socket"));
    }
    for round in 0..2 {
        for (i, c) in clients.iter().enumerate() {
            let payload = format!("q{i}-{round}");
            let Some((reply, from)) = ask(c, addr, payload.as_bytes()).await else {
                panic!("no reply: {}", gateway.metrics().render())
            };
            assert_eq!(
                from, addr,
                "the reply comes from the listener's own address"
            );
            assert_eq!(reply, format!("dns:{payload}").into_bytes());
        }
    }
    // A large datagram passes whole.
    let big = vec![7u8; 60_000];
    let (reply, _) = ask(&clients[0], addr, &big)
        .await
        .expect("a reply to a large datagram");
    assert_eq!(reply.len(), 4 + big.len());
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("portico_udp_flows_total{listener=\"dns\",protocol=\"other\"} 40"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("portico_udp_datagrams_total{listener=\"dns\",direction=\"to_client\"} 81"),
        "{metrics}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn flow_caps_hold_per_ip() {
    let echo = udp_echo("e:").await;
    let mut listener = udp_listener("capped", ProtocolSet::only(Protocol::Other));
    listener.max_flows_per_ip = 3;
    let (gateway, addr) = start_udp(listener, vec![other_route("capped", echo)]).await;
    let mut answered = 0;
    let mut clients = Vec::new();
    for _ in 0..6 {
        let c = UdpSocket::bind(LOOPBACK).await.expect("client socket");
        if ask(&c, addr, b"hi").await.is_some() {
            answered += 1;
        }
        clients.push(c);
    }
    assert_eq!(answered, 3, "max_flows_per_ip = 3");
    // The first flows go on being served.
    assert!(ask(&clients[0], addr, b"again").await.is_some());
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("portico_udp_drops_total{listener=\"capped\",reason=\"flow_limit\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("reason=\"flow_limit\"} 3"), "{metrics}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn unrouted_datagrams_never_reach_a_backend() {
    let echo = udp_echo("x:").await;
    // The only route is limited to another listener.
    let (gateway, addr) = start_udp(
        udp_listener("open", ProtocolSet::only(Protocol::Other)),
        vec![other_route("elsewhere", echo)],
    )
    .await;
    let c = UdpSocket::bind(LOOPBACK).await.expect("client socket");
    assert!(ask(&c, addr, b"hello").await.is_none());
    assert!(ask(&c, addr, b"hello again").await.is_none());
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("portico_udp_drops_total{listener=\"open\",reason=\"no_route\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "portico_refusals_total{listener=\"open\",protocol=\"other\",reason=\"no_route\"} 1"
        ),
        "one refusal per flow: {metrics}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_flow_still_reading_when_it_goes_idle_counts_its_held_datagrams() {
    // flow_idle shorter than peek_timeout: the flow below is ended by
    // flow_idle while its hello is still incomplete; what it held must be
    // counted as dropped, not vanish (it did before).
    let mut listener = udp_listener("slow", ProtocolSet::only(Protocol::Quic));
    listener.flow_idle = Duration::from_secs(1);
    listener.peek_timeout = Duration::from_secs(30);
    let (gateway, addr) = start_udp(listener, Vec::new()).await;
    // A QUIC v1 Handshake packet and no Initial: the reader holds it and
    // waits for the Initial that would carry the hello.
    let mut datagram = vec![0xe0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 40];
    datagram.extend_from_slice(&[0x5a; 40]);
    let c = UdpSocket::bind(LOOPBACK).await.expect("client socket");
    assert!(ask(&c, addr, &datagram).await.is_none());
    let counted = "portico_udp_drops_total{listener=\"slow\",reason=\"peek_timeout\"} 1";
    let mut metrics = gateway.metrics().render();
    for _ in 0..100 {
        if metrics.contains(counted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = gateway.metrics().render();
    }
    assert!(metrics.contains(counted), "{metrics}");
    assert!(
        metrics.contains("portico_udp_open_flows{listener=\"slow\"} 0"),
        "{metrics}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_open_flows_gauge_counts_a_new_flow_at_once() {
    let listener = udp_listener("gauge", ProtocolSet::only(Protocol::Quic));
    let (gateway, addr) = start_udp(listener, Vec::new()).await;
    // A Handshake packet without an Initial: a flow that holds it, open
    // until peek_timeout (5 s).
    let mut held = vec![0xe0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 40];
    held.extend_from_slice(&[0x5a; 40]);
    let c = UdpSocket::bind(LOOPBACK).await.expect("client socket");
    c.send_to(&held, addr).await.expect("send");
    // Not QUIC, from another port: dropped at once, so once it is counted
    // the datagram before it has been read too.
    let probe = UdpSocket::bind(LOOPBACK).await.expect("probe socket");
    probe.send_to(b"\x01probe", addr).await.expect("send");
    let counted = "portico_udp_drops_total{listener=\"gauge\",reason=\"not_quic\"} 1";
    let mut metrics = gateway.metrics().render();
    for _ in 0..100 {
        if metrics.contains(counted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        metrics = gateway.metrics().render();
    }
    assert!(metrics.contains(counted), "{metrics}");
    // Before the next sweep (once a second) too.
    assert!(
        metrics.contains("portico_udp_open_flows{listener=\"gauge\"} 1"),
        "{metrics}"
    );
    gateway.shutdown().await;
}

mod quic {
    //! A real QUIC client and server (quinn) through the gateway.

    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A QUIC server for `name` that echoes one bidirectional stream.
    fn quic_server(name: &str) -> (quinn::Endpoint, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let der = CertificateDer::from(cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config =
            quinn::ServerConfig::with_single_cert(vec![der.clone()], key).expect("server config");
        let endpoint = quinn::Endpoint::server(config, LOOPBACK.parse().expect("addr"))
            .expect("server endpoint");
        let server = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = server.accept().await {
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                        let data = recv.read_to_end(64 * 1024).await.unwrap_or_default();
                        let _ = send.write_all(b"h3:").await;
                        let _ = send.write_all(&data).await;
                        let _ = send.finish();
                        let _ = send.stopped().await;
                    }
                });
            }
        });
        (endpoint, der)
    }

    fn client(trust: &CertificateDer<'static>) -> quinn::Endpoint {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(trust.clone()).expect("trust");
        let mut config =
            quinn::ClientConfig::with_root_certificates(Arc::new(roots)).expect("client config");
        let mut transport = quinn::TransportConfig::default();
        transport.max_idle_timeout(Some(Duration::from_secs(2).try_into().expect("idle")));
        config.transport_config(Arc::new(transport));
        let mut endpoint =
            quinn::Endpoint::client(LOOPBACK.parse().expect("addr")).expect("client endpoint");
        endpoint.set_default_client_config(config);
        endpoint
    }

    fn quic_route(host: &str, backend: SocketAddr) -> portico_config::model::Route {
        let mut r = route(&[host], backend);
        r.protocols = ProtocolSet::only(Protocol::Quic);
        r
    }

    #[tokio::test]
    async fn quic_is_routed_by_sni_and_unknown_names_are_dropped() {
        let (server_a, cert_a) = quic_server("app.test");
        let (server_b, cert_b) = quic_server("other.test");
        let (gateway, addr) = start_udp(
            udp_listener("h3", ProtocolSet::only(Protocol::Quic)),
            vec![
                quic_route("app.test", server_a.local_addr().expect("addr")),
                quic_route("other.test", server_b.local_addr().expect("addr")),
            ],
        )
        .await;
        for (name, cert) in [("app.test", &cert_a), ("other.test", &cert_b)] {
            let endpoint = client(cert);
            let conn = endpoint
                .connect(addr, name)
                .expect("connect")
                .await
                .expect("the QUIC handshake completes through the gateway");
            let (mut send, mut recv) = conn.open_bi().await.expect("stream");
            send.write_all(name.as_bytes()).await.expect("write");
            send.finish().expect("finish");
            let got = recv.read_to_end(1024).await.expect("read");
            assert_eq!(got, format!("h3:{name}").into_bytes());
            conn.close(0u32.into(), b"done");
            endpoint.wait_idle().await;
        }
        // A name no route has: the handshake never completes.
        let endpoint = client(&cert_a);
        let refused = endpoint.connect(addr, "nope.test").expect("connect").await;
        assert!(refused.is_err(), "no route for nope.test");
        let metrics = gateway.metrics().render();
        assert!(
            metrics.contains("portico_udp_flows_total{listener=\"h3\",protocol=\"quic\"} 2"),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "portico_refusals_total{listener=\"h3\",protocol=\"quic\",reason=\"no_route\"} 1"
            ),
            "{metrics}"
        );
        gateway.shutdown().await;
    }
}

mod through_a_tunnel {
    //! A UDP flow routed to a tunnel: one link stream per flow with the
    //! *datagrams* flag, the client's address and the listener's; the first
    //! datagrams framed on it, then (once the tunnel client has answered)
    //! QUIC datagrams tagged with the stream's id.

    use super::*;
    use crate::tunnel_fixtures::{connect_home, pki, tunnel_config};
    use portico_config::model::Target;
    use portico_link::datagram;

    #[tokio::test]
    async fn datagrams_travel_on_one_stream_per_flow_then_as_quic_datagrams() {
        let pki = pki();
        let mut cfg = tunnel_config(&pki);
        let mut r = other_route("dns", "127.0.0.1:9".parse().expect("addr"));
        r.target = Target::Tunnel("home".into());
        cfg.routes = vec![r];
        cfg.listeners.clear();
        let bind = "127.0.0.1:0".parse().expect("addr");
        cfg.udp_listeners = vec![udp_listener("dns", ProtocolSet::only(Protocol::Other))];
        let gateway = Gateway::start(cfg, Vec::new())
            .await
            .expect("gateway starts");
        let addr = gateway.udp_local_addr(bind).expect("UDP listener bound");
        let link = gateway.tunnel_addr().expect("[tunnels] bound");
        let (_endpoint, session) = connect_home(&pki, &gateway, link).await;
        // The fake tunnel client: echoes each datagram of each flow the way
        // it came, and reports the headers it saw and how each came.
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (how_tx, mut how) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((header, mut send, mut recv)) = session.accept_stream().await {
                let _ = seen_tx.send(header);
                let flows = session.datagrams.clone();
                let id = quinn::VarInt::from(recv.id()).into_inner();
                let mut incoming = flows.register(id);
                let how_tx = how_tx.clone();
                tokio::spawn(async move {
                    let stream = async {
                        let mut buf = Vec::new();
                        while let Ok(Some(n)) = datagram::read(&mut recv, &mut buf).await {
                            let _ = how_tx.send("stream");
                            let mut reply = b"far:".to_vec();
                            reply.extend_from_slice(&buf[..n]);
                            if datagram::write(&mut send, &reply).await.is_err() {
                                return;
                            }
                        }
                    };
                    let datagrams = async {
                        while let Some(d) = incoming.datagrams.recv().await {
                            let _ = how_tx.send("datagram");
                            let mut reply = b"far:".to_vec();
                            reply.extend_from_slice(&d);
                            assert!(flows.send(id, &reply), "a small reply fits");
                        }
                    };
                    tokio::select! {
                        () = stream => {}
                        () = datagrams => {}
                    }
                });
            }
        });
        let a = UdpSocket::bind(LOOPBACK).await.expect("client a");
        let b = UdpSocket::bind(LOOPBACK).await.expect("client b");
        for (i, c) in [&a, &b, &a, &b].into_iter().enumerate() {
            let payload = format!("d{i}");
            let (reply, from) = ask(c, addr, payload.as_bytes())
                .await
                .expect("a reply through the tunnel");
            assert_eq!(from, addr);
            assert_eq!(reply, format!("far:{payload}").into_bytes());
        }
        let mut headers = Vec::new();
        while let Ok(h) = seen.try_recv() {
            headers.push(h);
        }
        let mut ways = Vec::new();
        while let Ok(w) = how.try_recv() {
            ways.push(w);
        }
        // Each flow's first datagram on its stream, the second (after the
        // answer) as a QUIC datagram.
        assert_eq!(
            ways.iter().filter(|w| **w == "stream").count(),
            2,
            "{ways:?}"
        );
        assert_eq!(
            ways.iter().filter(|w| **w == "datagram").count(),
            2,
            "{ways:?}"
        );
        assert_eq!(headers.len(), 2, "one stream per flow: {headers:?}");
        for h in &headers {
            assert!(h.datagrams);
            assert_eq!(h.protocol, Some(Protocol::Other));
            assert_eq!(h.reached, addr);
        }
        let clients: Vec<SocketAddr> = headers.iter().map(|h| h.client).collect();
        assert!(clients.contains(&a.local_addr().expect("addr")));
        assert!(clients.contains(&b.local_addr().expect("addr")));
        gateway.shutdown().await;
    }
}
