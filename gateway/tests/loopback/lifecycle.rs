//! The gateway's life over real loopback sockets: inherited sockets,
//! listeners added and removed by a reload, graceful shutdown and the admin
//! endpoint of a running gateway.

use std::net::SocketAddr;
use std::time::Duration;

use portico_config::model::Admin;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pipeline::{
    config, echo_backend, exchange, expect_echo, http_get, listener, route, start,
};
use portico_gateway::Gateway;
use portico_gateway::bind_listener as bind;

#[tokio::test]
async fn an_inherited_socket_is_used_instead_of_binding() {
    let a = echo_backend("A:").await;
    let inherited = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = inherited.local_addr().expect("addr");
    let mut cfg = config(vec![route(&["*"], a)]);
    if let Some(l) = cfg.listeners.first_mut() {
        // Binding this address again would fail: the inherited socket listens there.
        l.bind = addr;
    }
    let gw = Gateway::start(cfg, vec![inherited])
        .await
        .expect("starts on the inherited socket");
    assert_eq!(gw.local_addr(addr), Some(addr));
    let request = http_get("a.test");
    expect_echo(&exchange(addr, &request).await, "A:", &request);
}

#[tokio::test]
async fn reload_adds_and_removes_listeners_by_bind_address() {
    let a = echo_backend("A:").await;
    let (gw, old_addr) = start(config(vec![route(&["*"], a)])).await;
    let mut open = TcpStream::connect(old_addr).await.expect("connect");
    let request = http_get("a.test");
    open.write_all(&request).await.expect("write");
    let mut echoed = vec![0u8; 2 + request.len()];
    open.read_exact(&mut echoed).await.expect("echo");

    let mut cfg = config(vec![route(&["*"], a)]);
    let new_bind: SocketAddr = "127.0.0.2:0".parse().expect("addr");
    let mut moved = listener();
    moved.bind = new_bind;
    cfg.listeners = vec![moved];
    gw.apply(cfg).expect("reload applies");
    assert_eq!(
        gw.local_addr("127.0.0.1:0".parse().expect("addr")),
        None,
        "old listener removed"
    );
    let new_addr = gw.local_addr(new_bind).expect("new listener bound");
    expect_echo(&exchange(new_addr, &request).await, "A:", &request);

    // The removed listener's socket is closed: a new connection never reaches a backend.
    if let Ok(mut late) = TcpStream::connect(old_addr).await {
        let mut got = Vec::new();
        let _ = late.write_all(&request).await;
        let _ = late.read_to_end(&mut got).await;
        assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    }
    // The connection it accepted before goes on.
    open.write_all(b"still here").await.expect("write");
    open.shutdown().await.expect("half-close");
    let mut rest = Vec::new();
    open.read_to_end(&mut rest).await.expect("rest");
    assert_eq!(String::from_utf8_lossy(&rest), "still hereA:EOF");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_closes_after_the_grace_period() {
    let a = echo_backend("A:").await;
    let mut cfg = config(vec![route(&["*"], a)]);
    cfg.limits.shutdown_grace = Duration::from_millis(300);
    let (gw, addr) = start(cfg).await;
    let mut open = TcpStream::connect(addr).await.expect("connect");
    let request = http_get("a.test");
    open.write_all(&request).await.expect("write");
    let mut echoed = vec![0u8; 2 + request.len()];
    open.read_exact(&mut echoed).await.expect("echo");

    let stopping = tokio::spawn({
        let gw = std::sync::Arc::clone(&gw);
        async move { gw.shutdown().await }
    });
    // During the grace period the open connection still works.
    open.write_all(b"ping").await.expect("write during grace");
    let mut pong = [0u8; 4];
    open.read_exact(&mut pong).await.expect("echo during grace");
    assert_eq!(&pong, b"ping");
    stopping.await.expect("shutdown finishes");
    // After the grace period the gateway closed it.
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    // And it accepts nothing new.
    if let Ok(mut late) = TcpStream::connect(addr).await {
        let _ = late.write_all(&request).await;
        let mut got = Vec::new();
        let _ = late.read_to_end(&mut got).await;
        assert!(got.is_empty());
    }
}

#[tokio::test]
async fn admin_endpoint_reports_the_running_gateway() {
    let a = echo_backend("A:").await;
    let mut cfg = config(vec![route(&["*"], a), route(&["b.test"], a)]);
    cfg.admin = Some(Admin {
        bind: "127.0.0.1:0".parse().expect("addr"),
        token: None,
    });
    let (gw, addr) = start(cfg).await;
    let request = http_get("a.test");
    expect_echo(&exchange(addr, &request).await, "A:", &request);
    let admin = gw.admin_addr().expect("admin bound");
    let status =
        String::from_utf8(exchange(admin, b"GET /status HTTP/1.1\r\n\r\n").await).expect("utf-8");
    assert!(status.starts_with("HTTP/1.1 200 OK\r\n"), "{status}");
    assert!(status.contains("\"bind\":\"127.0.0.1:0\""), "{status}");
    assert!(
        status.contains("\"routes\":[{\"hosts\":[\"*\"]"),
        "{status}"
    );
    assert_eq!(status.matches("\"hosts\":").count(), 2, "{status}");
    assert!(status.contains("\"tunnels\":[]"), "{status}");
    let metrics =
        String::from_utf8(exchange(admin, b"GET /metrics HTTP/1.1\r\n\r\n").await).expect("utf-8");
    assert!(
        metrics.contains("portico_connections_total{listener=\"127.0.0.1:0\",protocol=\"http\",outcome=\"forwarded\"} 1\n"),
        "{metrics}"
    );
    let health =
        String::from_utf8(exchange(admin, b"GET /healthz HTTP/1.1\r\n\r\n").await).expect("utf-8");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
}
