//! The gateway's side of the tunnel link over real loopback sockets: a
//! gateway with `[tunnels]` and a route into tunnel "home", and a minimal
//! tunnel client built from `portico_link` that answers streams itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_config::Secret;
use portico_config::model::{LinkCert, LinkTuning, TunnelClient, TunnelsListen};
use portico_link::{ConnectError, RefuseReason, Session, codes};
use portico_sniff::{Hostname, Protocol};
use quinn::ConnectionError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pipeline::{config, exchange, start};
use crate::tunnel_fixtures::{
    READ_CAP, REQUEST, RESPONSE, TOKEN, answer_streams, connect_home, dial, is_502, pki,
    tunnel_config, tunnel_gateway, tunnel_route, wait_for_sessions,
};
use portico_gateway::Gateway;
use portico_gateway::tunnel::RegisterError;
use portico_gateway::tunnel::{RegistryLimits, TunnelRegistry};

#[tokio::test]
async fn http_request_reaches_the_tunnel_client_with_its_header() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;

    let mut client = TcpStream::connect(addr).await.expect("connect to gateway");
    let client_addr = client.local_addr().expect("client addr");
    client.write_all(REQUEST).await.expect("write request");
    client.shutdown().await.expect("half-close");

    let (header, mut send, mut recv) = session.accept_stream().await.expect("a stream");
    assert_eq!(header.client, client_addr);
    assert_eq!(header.reached, addr);
    assert_eq!(header.protocol, Some(Protocol::Http));
    assert_eq!(
        header.host,
        Some(Hostname::parse(b"app.test").expect("hostname"))
    );
    // The client's half-close arrives as the end of the stream, and only
    // the client's bytes follow the header (no PROXY header).
    let request = recv
        .read_to_end(READ_CAP)
        .await
        .expect("request to its end");
    assert_eq!(request, REQUEST);
    // The other direction is still open after that half-close.
    send.write_all(RESPONSE).await.expect("write response");
    send.finish().expect("finish");
    let mut got = Vec::new();
    client
        .read_to_end(&mut got)
        .await
        .expect("client reads to EOF");
    assert_eq!(got, RESPONSE);

    let status = gateway.status_json();
    // Each count is taken before the end of stream that follows it.
    let bytes = format!(
        "\"bytes_to_client\":{},\"bytes_to_gateway\":{}}}",
        REQUEST.len(),
        RESPONSE.len()
    );
    assert!(status.contains(&bytes), "{status}");
    assert!(
        status.contains("\"tunnels\":[{\"name\":\"home\",\"sessions\":[{\"remote\":\"127.0.0.1:"),
        "{status}"
    );
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("portico_tunnel_sessions{name=\"home\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portico_tunnel_streams_total{name=\"home\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn tunnel_half_close_comes_first_and_the_client_keeps_sending() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;

    let mut client = TcpStream::connect(addr).await.expect("connect to gateway");
    client.write_all(REQUEST).await.expect("write request");
    let (_header, mut send, mut recv) = session.accept_stream().await.expect("a stream");
    send.write_all(RESPONSE).await.expect("write response");
    send.finish().expect("finish");
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.expect("client sees EOF");
    assert_eq!(got, RESPONSE);
    // The client can still send after the tunnel side's half-close.
    client.write_all(b"more").await.expect("write after EOF");
    client.shutdown().await.expect("half-close");
    let rest = recv.read_to_end(READ_CAP).await.expect("stream to its end");
    let mut want = REQUEST.to_vec();
    want.extend_from_slice(b"more");
    assert_eq!(rest, want);
}

#[tokio::test]
async fn bad_token_and_unknown_name_are_refused_and_the_gateway_keeps_serving() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let (_e1, wrong) = dial(&pki, link, "home", b"wrong token").await;
    assert!(
        matches!(wrong, Err(ConnectError::Refused(RefuseReason::BadToken))),
        "{wrong:?}"
    );
    let (_e2, unknown) = dial(&pki, link, "office", TOKEN).await;
    assert!(
        matches!(
            unknown,
            Err(ConnectError::Refused(RefuseReason::UnknownName))
        ),
        "{unknown:?}"
    );
    assert_eq!(gateway.tunnels().session_count("home"), 0);

    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;
    let answered = answer_streams(session);
    assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("portico_tunnel_refusals_total{reason=\"bad_token\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portico_tunnel_refusals_total{reason=\"unknown_name\"} 1\n"),
        "{metrics}"
    );
    answered.abort();
}

#[tokio::test]
async fn no_live_session_answers_502() {
    let pki = pki();
    let (_gateway, addr, _link) = tunnel_gateway(&pki).await;
    let got = exchange(addr, REQUEST).await;
    assert!(is_502(&got), "{}", String::from_utf8_lossy(&got));
}

#[tokio::test]
async fn two_sessions_of_one_name_share_the_streams() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let (_e1, first) = connect_home(&pki, &gateway, link).await;
    let (_e2, second) = connect_home(&pki, &gateway, link).await;
    let (first_conn, second_conn) = (first.connection.clone(), second.connection.clone());
    let first = answer_streams(first);
    let second = answer_streams(second);
    for _ in 0..4 {
        assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    }
    first_conn.close(codes::varint(codes::CLOSE_NORMAL), b"");
    second_conn.close(codes::varint(codes::CLOSE_NORMAL), b"");
    let (first, second) = (first.await.expect("join"), second.await.expect("join"));
    assert_eq!(first + second, 4);
    assert!(first >= 1 && second >= 1, "first {first}, second {second}");
}

#[tokio::test]
async fn a_dropped_session_sends_the_route_back_to_502() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let (endpoint, session) = connect_home(&pki, &gateway, link).await;
    let answered = answer_streams(session.clone());
    assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    session.close();
    endpoint.wait_idle().await;
    wait_for_sessions(&gateway, 0).await;
    let got = exchange(addr, REQUEST).await;
    assert!(is_502(&got), "{}", String::from_utf8_lossy(&got));
    assert_eq!(answered.await.expect("join"), 1);
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("portico_tunnel_sessions{name=\"home\"} 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stream_reset_before_any_answer_gives_502() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;
    let refuser = tokio::spawn(async move {
        let (_header, mut send, mut recv) = session.accept_stream().await.expect("a stream");
        let code = codes::varint(codes::STREAM_UNDELIVERABLE);
        send.reset(code).expect("reset");
        recv.stop(code).expect("stop");
        session
    });
    let got = exchange(addr, REQUEST).await;
    assert!(is_502(&got), "{}", String::from_utf8_lossy(&got));
    // The session itself survives a reset stream.
    let session = refuser.await.expect("join");
    assert!(session.connection.close_reason().is_none());
    assert_eq!(gateway.tunnels().session_count("home"), 1);
}

#[tokio::test]
async fn reload_closes_the_sessions_of_a_removed_name() {
    let pki = pki();
    let (gateway, _addr, link) = tunnel_gateway(&pki).await;
    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;
    let mut reloaded = tunnel_config(&pki);
    reloaded.routes = Vec::new();
    reloaded.tunnel = vec![TunnelClient {
        name: "office".into(),
        token: Secret::new(TOKEN.to_vec()),
    }];
    gateway.apply(reloaded).expect("reload applies");
    let closed = session.connection.closed().await;
    let ConnectionError::ApplicationClosed(close) = closed else {
        panic!("expected an application close, got {closed:?}");
    };
    assert_eq!(close.error_code, codes::varint(codes::CLOSE_UNKNOWN_NAME));
    assert_eq!(gateway.tunnels().session_count("home"), 0);
    let (_e, again) = dial(&pki, link, "home", TOKEN).await;
    assert!(
        matches!(again, Err(ConnectError::Refused(RefuseReason::UnknownName))),
        "{again:?}"
    );
    let (_e, office) = dial(&pki, link, "office", TOKEN).await;
    assert!(office.is_ok(), "{office:?}");
}

#[tokio::test]
async fn shutdown_closes_every_session_normally() {
    let pki = pki();
    let (gateway, _addr, link) = tunnel_gateway(&pki).await;
    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;
    gateway.shutdown().await;
    let closed = session.connection.closed().await;
    let ConnectionError::ApplicationClosed(close) = closed else {
        panic!("expected an application close, got {closed:?}");
    };
    assert_eq!(close.error_code, codes::varint(codes::CLOSE_NORMAL));
}

#[tokio::test]
async fn acme_link_certificate_is_refused_at_start() {
    let mut config = config(vec![tunnel_route()]);
    config.tunnels = Some(TunnelsListen {
        bind: "127.0.0.1:0".parse().expect("addr"),
        cert: LinkCert::Acme,
        link: LinkTuning::default(),
    });
    let err = Gateway::start(config, Vec::new())
        .await
        .expect_err("acme link certificate refused");
    assert!(err.to_string().contains("acme"), "{err}");
}

#[tokio::test]
async fn registry_caps_sessions_and_spreads_streams_round_robin() {
    let pki = pki();
    let (gateway, _addr, link) = tunnel_gateway(&pki).await;
    let mut sessions = Vec::new();
    let mut endpoints = Vec::new();
    for _ in 0..3 {
        let (endpoint, session) = connect_home(&pki, &gateway, link).await;
        endpoints.push(endpoint);
        sessions.push(session);
    }
    let [s0, s1, s2] = <[Session; 3]>::try_from(sessions).expect("three sessions");
    let client = |name: &str, token: &[u8]| TunnelClient {
        name: name.into(),
        token: Secret::new(token.to_vec()),
    };
    let limits = RegistryLimits {
        max_sessions_per_name: 2,
        max_sessions: 3,
    };
    let registry = TunnelRegistry::new(
        &[client("home", TOKEN), client("office", TOKEN)],
        limits,
        Arc::default(),
    );
    let remote: SocketAddr = "192.0.2.1:4433".parse().expect("addr");
    let a = registry.register(s0, remote).expect("first session");
    let b = registry.register(s1, remote).expect("second session");
    assert_eq!(
        registry.register(s2.clone(), remote).err(),
        Some(RegisterError::NameFull(2))
    );
    let mut office = s2.clone();
    office.name = "office".into();
    registry
        .register(office.clone(), remote)
        .expect("another name fits");
    assert_eq!(
        registry.register(office, remote).err(),
        Some(RegisterError::TotalFull(3))
    );
    let mut nobody = s2;
    nobody.name = "nobody".into();
    assert_eq!(
        registry.register(nobody, remote).err(),
        Some(RegisterError::NotConfigured)
    );

    // Registering b made a suspect until a probe clears it.
    let (ida, idb) = (a.session.id, b.session.id);
    assert_eq!(registry.suspect_count("home"), 1);
    let picks: Vec<u64> = (0..2)
        .map(|_| registry.pick("home").expect("a live session").session.id)
        .collect();
    assert_eq!(picks, vec![idb, idb]);
    a.end_probe();
    let picks: Vec<u64> = (0..4)
        .map(|_| registry.pick("home").expect("a live session").session.id)
        .collect();
    assert_eq!(picks, vec![ida, idb, ida, idb]);
    assert_eq!(registry.metrics().tunnels.sessions("home"), 2);

    assert!(registry.remove(&a));
    assert!(!registry.remove(&a), "a session is removed once");
    assert_eq!(registry.pick("home").map(|s| s.session.id), Some(idb));
    assert_eq!(registry.metrics().tunnels.sessions("home"), 1);

    // A changed token closes the sessions that authenticated with the old one.
    assert_eq!(
        registry.set_clients(&[client("home", b"new token"), client("office", TOKEN)]),
        1
    );
    assert_eq!(registry.session_count("home"), 0);
    assert!(registry.pick("home").is_none());
    assert!(b.session.connection.close_reason().is_some());
    assert_eq!(registry.metrics().tunnels.sessions("home"), 0);
}

#[tokio::test]
async fn idle_timeout_ends_a_tunnel_connection_and_resets_its_stream() {
    let pki = pki();
    let mut config = tunnel_config(&pki);
    if let Some(listener) = config.listeners.first_mut() {
        listener.idle_timeout = Some(Duration::from_millis(100));
    }
    let (gateway, addr) = start(config).await;
    let link = gateway.tunnel_addr().expect("[tunnels] bound");
    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;
    let mut client = TcpStream::connect(addr).await.expect("connect to gateway");
    client.write_all(REQUEST).await.expect("write request");
    let (_header, _send, mut recv) = session.accept_stream().await.expect("a stream");
    let ended = recv.read_to_end(READ_CAP).await;
    assert!(
        matches!(ended, Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(code))) if code == codes::varint(codes::STREAM_ABORTED)),
        "{ended:?}"
    );
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
}

#[tokio::test]
async fn reload_serves_a_renewed_link_certificate_to_new_sessions() {
    let pki = pki();
    let (gateway, _addr, link) = tunnel_gateway(&pki).await;
    // The metrics show the configured tunnel before any session.
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("portico_tunnel_sessions{name=\"home\"} 0\n"),
        "{metrics}"
    );
    let (_endpoint, old) = connect_home(&pki, &gateway, link).await;
    // A renewed certificate from another CA, written over the same files.
    let renewed = crate::tunnel_fixtures::pki();
    std::fs::copy(renewed.cert.path(), pki.cert.path()).expect("replace cert");
    std::fs::copy(renewed.key.path(), pki.key.path()).expect("replace key");
    gateway.apply(tunnel_config(&pki)).expect("reload applies");
    let (_e1, stale_trust) = dial(&pki, link, "home", TOKEN).await;
    assert!(
        matches!(stale_trust, Err(ConnectError::Connection(_))),
        "{stale_trust:?}"
    );
    let (_e2, fresh_trust) = dial(&renewed, link, "home", TOKEN).await;
    assert!(fresh_trust.is_ok(), "{fresh_trust:?}");
    // The session set up with the old certificate goes on.
    assert!(old.connection.close_reason().is_none());
}

/// The configuration's link defaults are the link crate's own.
#[test]
fn link_tuning_defaults_match_the_link_defaults() {
    let tuning = LinkTuning::default();
    let link = portico_link::LinkSettings::default();
    assert_eq!(tuning.max_udp_payload, link.max_udp_payload);
    assert_eq!(tuning.max_udp_payload, portico_link::MAX_UDP_PAYLOAD);
    assert_eq!(tuning.udp_receive_buffer, link.udp_receive_buffer);
    assert_eq!(tuning.udp_send_buffer, link.udp_send_buffer);
}
