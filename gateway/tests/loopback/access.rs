//! Every TCP connection gets a route: SSH and `other` (unrecognised bytes,
//! a silent client, `other_after = "0s"`) on shared listeners, routes
//! limited to named listeners, `allow`/`deny`, and the proxy protocols
//! (`CONNECT`, SOCKS5) with `[[user]]` credentials, ports and IP literals,
//! against echo backends on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use portico_config::Secret;
use portico_config::model::{Access, GatewayConfig, Route, User};
use portico_sniff::{Protocol, ProtocolSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pipeline::{config, echo_backend, exchange, expect_echo, http_get, route, start};

const PASSWORD: &str = "correct horse battery";

fn protocols(list: &[Protocol]) -> ProtocolSet {
    list.iter().copied().collect()
}

fn nameless(protocol: Protocol, backend: SocketAddr) -> Route {
    let mut r = route(&["*"], backend);
    r.protocols = ProtocolSet::only(protocol);
    r
}

fn proxy_route(hosts: &[&str], backend: SocketAddr, access: Access) -> Route {
    let mut r = route(hosts, backend);
    r.protocols = protocols(&[Protocol::Connect, Protocol::Socks5]);
    r.access = access;
    r
}

fn with_users(mut config: GatewayConfig) -> GatewayConfig {
    config.users = vec![User {
        name: "alice".into(),
        password: Secret::new(PASSWORD.as_bytes().to_vec()),
    }];
    config
}

fn alice() -> Access {
    Access {
        users: vec!["alice".into()],
        ..Access::default()
    }
}

/// `other_after` and the enabled protocols of the first listener.
fn listen(config: &mut GatewayConfig, enabled: &[Protocol], other_after: Option<Duration>) {
    let listener = &mut config.listeners[0];
    listener.protocols = protocols(enabled);
    listener.other_after = other_after;
}

/// Reads until `want` bytes arrived (or the stream ended), at most 5 s.
async fn read_n(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut got[filled..]));
        match read.await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => filled += n,
        }
    }
    got.truncate(filled);
    got
}

/// Reads everything until the gateway closes.
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
    got
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn ssh_tls_and_other_share_a_port() {
    let (ssh, web, other) = (
        echo_backend("SSH:").await,
        echo_backend("WEB:").await,
        echo_backend("OTHER:").await,
    );
    let mut config = config(vec![
        route(&["a.test"], web),
        nameless(Protocol::Ssh, ssh),
        nameless(Protocol::Other, other),
    ]);
    listen(
        &mut config,
        &[
            Protocol::Http,
            Protocol::Tls,
            Protocol::Ssh,
            Protocol::Other,
        ],
        Some(Duration::from_millis(200)),
    );
    let (gw, addr) = start(config).await;

    let banner = b"SSH-2.0-OpenSSH_9.9p1 Debian-3\r\n".to_vec();
    expect_echo(&exchange(addr, &banner).await, "SSH:", &banner);
    let request = http_get("a.test");
    expect_echo(&exchange(addr, &request).await, "WEB:", &request);
    // Bytes no detector knows go to `other`, unchanged.
    let odd = b"\x00\x01\x02 not a protocol".to_vec();
    expect_echo(&exchange(addr, &odd).await, "OTHER:", &odd);

    // A silent client (a server-speaks-first protocol) gets the backend's
    // banner once `other_after` passed.
    let mut client = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(read_n(&mut client, 6).await, b"OTHER:");
    client.write_all(b"EHLO x\r\n").await.expect("write");
    assert_eq!(read_n(&mut client, 8).await, b"EHLO x\r\n");
    drop(client);

    let metrics = gw.metrics().render();
    for protocol in ["ssh", "other", "http"] {
        assert!(
            metrics.contains(&format!("protocol=\"{protocol}\",outcome=\"forwarded\"")),
            "{protocol} in {metrics}"
        );
    }
}

#[tokio::test]
async fn zero_other_after_is_a_pure_port_forward() {
    let (web, other) = (echo_backend("WEB:").await, echo_backend("OTHER:").await);
    let mut config = config(vec![
        route(&["a.test"], web),
        nameless(Protocol::Other, other),
    ]);
    listen(
        &mut config,
        &[Protocol::Http, Protocol::Other],
        Some(Duration::ZERO),
    );
    let (_gw, addr) = start(config).await;
    // Even an HTTP request routed elsewhere by name is not looked at.
    let request = http_get("a.test");
    expect_echo(&exchange(addr, &request).await, "OTHER:", &request);
    let mut client = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(read_n(&mut client, 6).await, b"OTHER:");
}

#[tokio::test]
async fn nameless_protocols_are_closed_without_a_route() {
    let web = echo_backend("WEB:").await;
    let mut config = config(vec![route(&["a.test"], web)]);
    listen(&mut config, &[Protocol::Http, Protocol::Ssh], None);
    let (gw, addr) = start(config).await;
    assert!(exchange(addr, b"SSH-2.0-OpenSSH_9.9\r\n").await.is_empty());
    assert!(
        gw.metrics()
            .render()
            .contains("protocol=\"ssh\",reason=\"no_route\"} 1\n")
    );
}

#[tokio::test]
async fn routes_can_be_limited_to_named_listeners() {
    let (one, two) = (echo_backend("ONE:").await, echo_backend("TWO:").await);
    let mut first = nameless(Protocol::Ssh, one);
    first.access.listeners = vec!["one".into()];
    let mut second = nameless(Protocol::Ssh, two);
    second.access.listeners = vec!["two".into()];
    let mut config = config(vec![first, second]);
    let mut other = config.listeners[0].clone();
    config.listeners[0].name = Some("one".into());
    config.listeners[0].protocols = ProtocolSet::only(Protocol::Ssh);
    other.name = Some("two".into());
    other.bind = "127.0.0.2:0".parse().expect("addr");
    other.protocols = ProtocolSet::only(Protocol::Ssh);
    config.listeners.push(other);
    let (gw, addr_one) = start(config).await;
    let addr_two = gw
        .local_addr("127.0.0.2:0".parse().expect("addr"))
        .expect("second listener");
    let banner = b"SSH-2.0-x\r\n".to_vec();
    expect_echo(&exchange(addr_one, &banner).await, "ONE:", &banner);
    expect_echo(&exchange(addr_two, &banner).await, "TWO:", &banner);
}

#[tokio::test]
async fn deny_beats_allow_and_answers_in_the_protocol() {
    let web = echo_backend("WEB:").await;
    let mut denied = route(&["a.test"], web);
    denied.access.allow = vec!["127.0.0.0/8".parse().expect("net")];
    denied.access.deny = vec!["127.0.0.1/32".parse().expect("net")];
    let mut allowed = route(&["b.test"], web);
    allowed.access.allow = vec!["127.0.0.0/8".parse().expect("net")];
    let mut elsewhere = route(&["c.test"], web);
    elsewhere.access.allow = vec!["192.0.2.0/24".parse().expect("net")];
    let (gw, addr) = start(config(vec![denied, allowed, elsewhere])).await;

    let got = exchange(addr, &http_get("a.test")).await;
    assert!(
        got.starts_with(b"HTTP/1.1 403 Forbidden\r\n"),
        "{}",
        text(&got)
    );
    let got = exchange(addr, &http_get("c.test")).await;
    assert!(
        got.starts_with(b"HTTP/1.1 403 Forbidden\r\n"),
        "{}",
        text(&got)
    );
    let request = http_get("b.test");
    expect_echo(&exchange(addr, &request).await, "WEB:", &request);
    let got = exchange(addr, &crate::pipeline::client_hello_for("a.test")).await;
    assert_eq!(got, [21, 3, 3, 0, 2, 2, 49], "TLS access_denied");
    let got = exchange(
        addr,
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='a.test' version='1.0'>",
    )
    .await;
    assert!(text(&got).contains("<policy-violation "), "{}", text(&got));
    assert!(
        gw.metrics()
            .render()
            .contains("protocol=\"http\",reason=\"denied\"} 2\n")
    );
}

fn connect_request(target: &str, credentials: Option<(&str, &str)>) -> Vec<u8> {
    use base64::Engine as _;
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        head.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[tokio::test]
async fn connect_needs_credentials_a_routed_target_and_an_allowed_port() {
    let nas = echo_backend("NAS:").await;
    let backend_port = nas.port();
    let mut access = alice();
    access.ports = vec![backend_port];
    let mut config = with_users(config(vec![proxy_route(&["nas.test"], nas, access)]));
    listen(&mut config, &[Protocol::Connect, Protocol::Http], None);
    let (gw, addr) = start(config).await;
    let target = format!("nas.test:{backend_port}");

    let got = exchange(addr, &connect_request(&target, None)).await;
    let answer = text(&got);
    assert!(
        answer.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("\r\nProxy-Authenticate: Basic realm=\"portico\""),
        "{answer}"
    );
    let got = exchange(addr, &connect_request(&target, Some(("alice", "wrong")))).await;
    assert!(text(&got).starts_with("HTTP/1.1 407 "), "{}", text(&got));
    let got = exchange(addr, &connect_request(&target, Some(("mallory", PASSWORD)))).await;
    assert!(text(&got).starts_with("HTTP/1.1 407 "), "{}", text(&got));

    // Unrouted names, IP literals and ports the route does not list.
    for target in [
        format!("elsewhere.test:{backend_port}"),
        format!("127.0.0.1:{backend_port}"),
        "nas.test:22".to_owned(),
    ] {
        let got = exchange(addr, &connect_request(&target, Some(("alice", PASSWORD)))).await;
        assert!(
            text(&got).starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{target}: {}",
            text(&got)
        );
    }

    // The right user: 200, then the tunnel carries bytes both ways.
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(&connect_request(&target, Some(("alice", PASSWORD))))
        .await
        .expect("write");
    let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
    assert_eq!(
        text(&read_n(&mut client, established.len()).await),
        text(established)
    );
    assert_eq!(read_n(&mut client, 4).await, b"NAS:");
    client.write_all(b"ping").await.expect("write");
    assert_eq!(read_n(&mut client, 4).await, b"ping");
    client.shutdown().await.expect("half-close");
    assert_eq!(read_all(&mut client).await, b"NAS:EOF");

    let metrics = gw.metrics().render();
    assert!(
        metrics.contains("protocol=\"connect\",reason=\"auth_required\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("protocol=\"connect\",reason=\"no_route\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("protocol=\"connect\",reason=\"denied\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn connect_to_a_closed_port_is_502() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut config = config(vec![proxy_route(&["nas.test"], closed, Access::default())]);
    listen(&mut config, &[Protocol::Connect], None);
    let (_gw, addr) = start(config).await;
    let got = exchange(
        addr,
        &connect_request(&format!("nas.test:{}", closed.port()), None),
    )
    .await;
    assert!(
        text(&got).starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{}",
        text(&got)
    );
}

/// A SOCKS5 greeting offering `methods`.
fn greeting(methods: &[u8]) -> Vec<u8> {
    let mut out = vec![5, u8::try_from(methods.len()).expect("few methods")];
    out.extend_from_slice(methods);
    out
}

fn socks_auth(user: &str, password: &str) -> Vec<u8> {
    let mut out = vec![1, u8::try_from(user.len()).expect("short")];
    out.extend_from_slice(user.as_bytes());
    out.push(u8::try_from(password.len()).expect("short"));
    out.extend_from_slice(password.as_bytes());
    out
}

fn socks_request_domain(name: &str, port: u16) -> Vec<u8> {
    let mut out = vec![5, 1, 0, 3, u8::try_from(name.len()).expect("short")];
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&port.to_be_bytes());
    out
}

#[tokio::test]
async fn socks5_with_username_and_password() {
    let nas = echo_backend("NAS:").await;
    let port = nas.port();
    let mut config = with_users(config(vec![proxy_route(&["nas.test"], nas, alice())]));
    listen(&mut config, &[Protocol::Socks5], None);
    let (gw, addr) = start(config).await;

    // Right credentials, a routed name: success, then bytes both ways.
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(&greeting(&[0, 2]))
        .await
        .expect("greeting");
    assert_eq!(
        read_n(&mut client, 2).await,
        [5, 2],
        "username/password chosen"
    );
    client
        .write_all(&socks_auth("alice", PASSWORD))
        .await
        .expect("auth");
    assert_eq!(read_n(&mut client, 2).await, [1, 0]);
    client
        .write_all(&socks_request_domain("nas.test", port))
        .await
        .expect("request");
    let reply = read_n(&mut client, 10).await;
    assert_eq!(reply.get(..4), Some(&[5, 0, 0, 1][..]), "{reply:?}");
    assert_eq!(read_n(&mut client, 4).await, b"NAS:");
    client.write_all(b"ping").await.expect("write");
    assert_eq!(read_n(&mut client, 4).await, b"ping");
    drop(client);

    // A wrong password: 01 01 and close.
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client.write_all(&greeting(&[2])).await.expect("greeting");
    assert_eq!(read_n(&mut client, 2).await, [5, 2]);
    client
        .write_all(&socks_auth("alice", "nope"))
        .await
        .expect("auth");
    assert_eq!(read_all(&mut client).await, [1, 1]);

    // No acceptable method: 05 FF.
    let got = exchange(addr, &greeting(&[0x80])).await;
    assert_eq!(got, [5, 0xff]);

    // No credentials offered: the route wants a user, 0x02 not allowed.
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client.write_all(&greeting(&[0])).await.expect("greeting");
    assert_eq!(read_n(&mut client, 2).await, [5, 0]);
    client
        .write_all(&socks_request_domain("nas.test", port))
        .await
        .expect("request");
    assert_eq!(read_all(&mut client).await, [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);

    // An unrouted name, and an IPv4 literal no route names: 0x02.
    for request in [socks_request_domain("other.test", port), {
        let mut r = vec![5, 1, 0, 1, 127, 0, 0, 1];
        r.extend_from_slice(&port.to_be_bytes());
        r
    }] {
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(&greeting(&[2])).await.expect("greeting");
        assert_eq!(read_n(&mut client, 2).await, [5, 2]);
        client
            .write_all(&socks_auth("alice", PASSWORD))
            .await
            .expect("auth");
        assert_eq!(read_n(&mut client, 2).await, [1, 0]);
        client.write_all(&request).await.expect("request");
        assert_eq!(read_all(&mut client).await, [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    }

    // BIND is not supported: 0x07.
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client.write_all(&greeting(&[0])).await.expect("greeting");
    assert_eq!(read_n(&mut client, 2).await, [5, 0]);
    client
        .write_all(&[5, 2, 0, 1, 127, 0, 0, 1, 0, 80])
        .await
        .expect("bind");
    assert_eq!(read_all(&mut client).await, [5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);

    let metrics = gw.metrics().render();
    assert!(
        metrics.contains("protocol=\"socks5\",outcome=\"forwarded\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_thousand_failed_logins_are_answered_and_blocked() {
    let nas = echo_backend("NAS:").await;
    let mut config = with_users(config(vec![proxy_route(&["nas.test"], nas, alice())]));
    listen(&mut config, &[Protocol::Connect], None);
    let (gw, addr) = start(config).await;
    let target = format!("nas.test:{}", nas.port());
    let wrong = connect_request(&target, Some(("alice", "guess")));
    for _ in 0..1000 {
        let got = exchange(addr, &wrong).await;
        assert!(text(&got).starts_with("HTTP/1.1 407 "), "{}", text(&got));
    }
    // Blocked now: even the right password is refused from this address.
    let got = exchange(addr, &connect_request(&target, Some(("alice", PASSWORD)))).await;
    assert!(text(&got).starts_with("HTTP/1.1 407 "), "{}", text(&got));
    let metrics = gw.metrics().render();
    assert!(
        metrics.contains("protocol=\"connect\",reason=\"auth_required\"} 1001\n"),
        "{metrics}"
    );
}
