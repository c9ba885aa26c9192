//! PROXY headers end to end: sent to backends, required from trusted
//! balancers, refused from anybody else, with client addresses normalised.

use std::time::Duration;

use portico_config::model::ProxyVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pipeline::{config, echo_backend, exchange, http_get, route, start};

#[tokio::test]
async fn proxy_header_is_sent_to_the_backend() {
    let a = echo_backend("A:").await;
    let mut r = route(&["*"], a);
    r.proxy_protocol = Some(ProxyVersion::V1);
    let (_gw, addr) = start(config(vec![r])).await;
    let request = http_get("a.test");
    let got = exchange(addr, &request).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("A:PROXY TCP4 127.0.0.1 127.0.0.1 "),
        "{text}"
    );
    assert!(
        text.contains(&format!(" {}\r\nGET /index.html", addr.port())),
        "{text}"
    );
}

#[tokio::test]
async fn trusted_balancer_must_send_proxy_header() {
    let a = echo_backend("A:").await;
    let mut r = route(&["*"], a);
    r.proxy_protocol = Some(ProxyVersion::V1);
    let mut cfg = config(vec![r]);
    if let Some(l) = cfg.listeners.first_mut() {
        l.accept_proxy = vec!["127.0.0.0/8".parse().expect("net")];
    }
    let (_gw, addr) = start(cfg).await;
    let request = http_get("a.test");
    // Without a header: closed, nothing forwarded.
    assert!(exchange(addr, &request).await.is_empty());
    // With one: its source is the client the backend hears of.
    let mut sent = b"PROXY TCP4 192.0.2.9 198.51.100.1 40000 443\r\n".to_vec();
    sent.extend_from_slice(&request);
    let got = exchange(addr, &sent).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("A:PROXY TCP4 192.0.2.9 198.51.100.1 40000 443\r\nGET /index.html"),
        "{text}"
    );
}

#[tokio::test]
async fn untrusted_proxy_header_is_refused() {
    let a = echo_backend("A:").await;
    let (_gw, addr) = start(config(vec![route(&["*"], a)])).await;
    let mut sent = b"PROXY TCP4 192.0.2.9 198.51.100.1 40000 443\r\n".to_vec();
    sent.extend_from_slice(&http_get("a.test"));
    assert!(exchange(addr, &sent).await.is_empty());
}

#[tokio::test]
async fn ipv4_clients_of_a_dual_stack_listener_are_ipv4() {
    let a = echo_backend("A:").await;
    let mut r = route(&["*"], a);
    r.proxy_protocol = Some(ProxyVersion::V1);
    let mut cfg = config(vec![r]);
    if let Some(l) = cfg.listeners.first_mut() {
        l.bind = "[::]:0".parse().expect("addr");
    }
    let (_gw, addr) = start(cfg).await;
    let got = exchange(
        ("127.0.0.1:".to_owned() + &addr.port().to_string())
            .parse()
            .expect("addr"),
        &http_get("a.test"),
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("A:PROXY TCP4 127.0.0.1 127.0.0.1 "),
        "{text}"
    );
}

#[tokio::test]
async fn per_ip_cap_counts_the_balancers_clients() {
    let a = echo_backend("A:").await;
    let mut cfg = config(vec![route(&["*"], a)]);
    cfg.limits.max_connections_per_ip = 1;
    if let Some(l) = cfg.listeners.first_mut() {
        l.accept_proxy = vec!["127.0.0.0/8".parse().expect("net")];
        l.peek_timeout = Duration::from_secs(30);
    }
    let (_gw, addr) = start(cfg).await;
    let request = http_get("a.test");
    // Two clients behind one balancer, both served at the same time.
    let mut first = TcpStream::connect(addr).await.expect("connect");
    first
        .write_all(b"PROXY TCP4 192.0.2.1 192.0.2.100 1000 443\r\n")
        .await
        .expect("write");
    first.write_all(&request).await.expect("write");
    let mut echoed = vec![0u8; 2 + request.len()];
    first.read_exact(&mut echoed).await.expect("first served");
    let mut second = b"PROXY TCP4 192.0.2.2 192.0.2.100 1000 443\r\n".to_vec();
    second.extend_from_slice(&request);
    let got = exchange(addr, &second).await;
    assert!(
        got.starts_with(b"A:GET"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // The same client again, while its first connection is open: over the cap.
    let mut again = b"PROXY TCP4 192.0.2.1 192.0.2.100 1001 443\r\n".to_vec();
    again.extend_from_slice(&request);
    assert!(exchange(addr, &again).await.is_empty());
}
