//! Hostile and broken clients against the real gateway: silent and
//! trickling clients are cut at `peek_timeout` without delaying others;
//! oversize heads get 431, garbage is closed, a refusing backend gives 502;
//! the gateway survives a file-descriptor limit far below its load; the
//! per-IP connection limit refuses the excess connection at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use portico_tests::WAIT;
use portico_tests::backends::HttpResponder;
use portico_tests::config::{limits, listener, route};
use portico_tests::gateway::{Gateway, GatewayOptions};
use portico_tests::net::{
    connect, connect_from, eventually, exchange, free_port, http_get, http_status,
    read_until_close, v4,
};

fn gateway(
    app: &HttpResponder,
    listener_extra: &[&str],
    limit_lines: &[&str],
) -> (Gateway, SocketAddr) {
    gateway_with(app, listener_extra, limit_lines, &GatewayOptions::default())
}

fn gateway_with(
    app: &HttpResponder,
    listener_extra: &[&str],
    limit_lines: &[&str],
    options: &GatewayOptions,
) -> (Gateway, SocketAddr) {
    let gw = v4(free_port());
    let mut toml = [
        listener(gw, listener_extra),
        route(&["app.test"], app.addr(), &[]),
    ]
    .concat();
    if !limit_lines.is_empty() {
        toml.push_str(&limits(limit_lines));
    }
    (Gateway::start_with(&toml, options), gw)
}

fn served(gw: SocketAddr) -> bool {
    http_status(&exchange(gw, &http_get("app.test", "/")).bytes) == Some(200)
}

#[test]
fn silent_client_is_closed_while_others_are_served() {
    let app = HttpResponder::start("app");
    let (_gateway, gw) = gateway(&app, &["peek_timeout = \"1s\""], &[]);
    let mut silent = connect(gw);
    assert!(served(gw), "another client is served while one is silent");
    let answer = read_until_close(&mut silent, WAIT, 4096);
    assert!(answer.closed, "the silent client is closed by the gateway");
    assert!(
        answer.bytes.is_empty(),
        "silence gets no answer: {}",
        answer.text()
    );
    assert_eq!(app.accepted(), 1);
}

#[test]
fn trickling_http_client_gets_408() {
    let app = HttpResponder::start("app");
    let (_gateway, gw) = gateway(&app, &["peek_timeout = \"1s\""], &[]);
    let mut slow = connect(gw);
    let mut writer = slow.try_clone().unwrap();
    // A request line at once (clearly HTTP), then one byte a second of a head
    // that never ends; stops when the gateway closes (write error) or after a
    // bounded number of bytes.
    writer.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let trickle = thread::spawn(move || {
        for byte in b"Host: app.test\r\nX-Slow: 123456789".iter() {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(served(gw), "another client is served meanwhile");
    let answer = read_until_close(&mut slow, WAIT, 4096);
    assert_eq!(http_status(&answer.bytes), Some(408), "{}", answer.text());
    drop(slow);
    trickle.join().unwrap();
    assert_eq!(
        app.accepted(),
        1,
        "the slow request never reached the backend"
    );
}

#[test]
fn oversize_request_head_gets_431() {
    let app = HttpResponder::start("app");
    let (_gateway, gw) = gateway(&app, &[], &["http_head_max = 1024"]);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(4096)
    );
    let answer = exchange(gw, request.as_bytes());
    assert_eq!(http_status(&answer.bytes), Some(431), "{}", answer.text());
    assert_eq!(app.accepted(), 0);
    assert!(served(gw), "a normal request still passes");
}

#[test]
fn garbage_is_closed() {
    let app = HttpResponder::start("app");
    let (_gateway, gw) = gateway(&app, &[], &[]);
    let garbage: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(7919) % 251) as u8 | 0x80)
        .collect();
    let answer = exchange(gw, &garbage);
    assert!(answer.closed, "garbage is closed");
    assert!(
        answer.bytes.is_empty(),
        "no answer to garbage: {}",
        answer.text()
    );
    assert_eq!(app.accepted(), 0);
}

#[test]
fn refusing_backend_gets_502() {
    let app = HttpResponder::start("app");
    let nobody_listens = v4(free_port());
    let gw = v4(free_port());
    let toml = [
        listener(gw, &[]),
        route(&["down.test"], nobody_listens, &[]),
        route(&["app.test"], app.addr(), &[]),
    ]
    .concat();
    let gateway = Gateway::start(&toml);
    let answer = exchange(gw, &http_get("down.test", "/"));
    assert_eq!(http_status(&answer.bytes), Some(502), "{}", answer.text());
    assert_eq!(
        http_status(&exchange(gw, &http_get("nothing.test", "/")).bytes),
        Some(421)
    );
    assert!(
        gateway.wait_log_line(&["client=127.0.0.1:", "down.test"]),
        "the refusal is logged with client and name:\n{}",
        gateway.log()
    );
}

#[test]
fn survives_a_file_descriptor_limit_below_its_load() {
    let app = HttpResponder::start("app");
    let options = GatewayOptions { nofile: Some(64) };
    let (mut gateway, gw) = gateway_with(&app, &["peek_timeout = \"30s\""], &[], &options);
    // 100 silent connections: far more than 64 descriptors. Connects that
    // the kernel itself refuses count as refusals too.
    let held: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect_timeout(&gw, WAIT).ok())
        .collect();
    assert!(!held.is_empty());
    // A request while saturated may be served or refused; either way the
    // gateway must stay up.
    let mut probe = connect(gw);
    let _ = probe.write_all(&http_get("app.test", "/"));
    let _ = read_until_close(&mut probe, Duration::from_secs(1), 4096);
    drop(probe);
    gateway.assert_running();
    assert!(
        gateway.wait_log("os error 24"),
        "the descriptor limit was reached (EMFILE):\n{}",
        gateway.log()
    );
    assert!(!gateway.log().contains("panicked"), "{}", gateway.log());
    drop(held);
    assert!(
        eventually(|| served(gw)),
        "served again once the load is gone"
    );
    gateway.assert_running();
}

/// Whether the gateway closes `stream` before the read bound: with a peek
/// timeout beyond [`WAIT`], only a connection limit can do that.
fn refused_at_once(mut stream: TcpStream) -> bool {
    let answer = read_until_close(&mut stream, WAIT, 4096);
    answer.closed && (answer.bytes.is_empty() || http_status(&answer.bytes).is_some())
}

#[test]
fn per_ip_limit_counts_each_client_address_separately() {
    let app = HttpResponder::start("app");
    let (_gateway, gw) = gateway(
        &app,
        &["peek_timeout = \"30s\""],
        &["max_connections_per_ip = 2"],
    );
    let (one, two): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
    let _held = [connect_from(one, gw), connect_from(one, gw)];
    assert!(
        refused_at_once(connect_from(one, gw)),
        "a third from 127.0.0.1 is refused"
    );
    // Another address still has its own two slots.
    let mut other = connect_from(two, gw);
    other.write_all(&http_get("app.test", "/")).unwrap();
    let answer = read_until_close(&mut other, WAIT, 1 << 16);
    assert_eq!(http_status(&answer.bytes), Some(200), "{}", answer.text());
}

#[test]
fn total_limit_refuses_the_connection_beyond_max_connections() {
    let app = HttpResponder::start("app");
    let (_gateway, gw) = gateway(&app, &["peek_timeout = \"30s\""], &["max_connections = 3"]);
    let ips: Vec<IpAddr> = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|ip| ip.parse().unwrap())
        .collect();
    let held: Vec<TcpStream> = ips[..3].iter().map(|ip| connect_from(*ip, gw)).collect();
    assert!(
        refused_at_once(connect_from(ips[3], gw)),
        "the fourth client is refused"
    );
    drop(held);
    assert!(
        eventually(|| served(gw)),
        "served again once connections close"
    );
}

#[test]
fn third_connection_from_one_ip_is_refused_at_once() {
    let app = HttpResponder::start("app");
    let (_gateway, gw) = gateway(
        &app,
        &["peek_timeout = \"30s\""],
        &["max_connections_per_ip = 2"],
    );
    let first = connect(gw);
    let mut second = connect(gw);
    // The peek timeout (30 s) is beyond the read bound (WAIT): only the limit
    // can close this connection before the read gives up.
    let mut third = connect(gw);
    let answer = read_until_close(&mut third, WAIT, 4096);
    assert!(
        answer.closed,
        "the third connection is refused, not left waiting"
    );
    assert!(
        answer.bytes.is_empty() || http_status(&answer.bytes).is_some(),
        "{answer:?}"
    );
    drop(first);
    // Once one slot is free, a client is served again.
    assert!(eventually(|| served(gw)));
    second.write_all(&http_get("app.test", "/")).unwrap();
    let answer = read_until_close(&mut second, WAIT, 1 << 16);
    assert_eq!(http_status(&answer.bytes), Some(200), "{}", answer.text());
}
