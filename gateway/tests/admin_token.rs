//! The `[admin]` endpoint with a `token_file`, in process over loopback:
//! without the token or with a wrong one every path but `/healthz` is 401
//! with `WWW-Authenticate: Bearer`; with it (header, or the cookie that
//! `/?token=` sets) 200; `/healthz` always 200.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use portico_gateway::Gateway;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const TOKEN: &str = "admin-token-0123456789abcdef";

/// Sends `head` and returns the whole response (bounded in time).
async fn ask(addr: SocketAddr, head: &str) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut got = String::new();
        stream.read_to_string(&mut got).await.expect("read");
        got
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("admin answered in time")
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: admin\r\n{extra}\r\n")
}

#[tokio::test]
async fn the_token_guards_everything_but_healthz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("admin.token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let text = "[[listener]]\nbind = \"127.0.0.1:9\"\n\n[admin]\nbind = \"127.0.0.1:9\"\n\
                token_file = \"admin.token\"\n";
    let mut config =
        portico_config::parse_gateway(text, &dir.path().join("gateway.toml")).expect("valid");
    // The file names fixed ports (0 is refused there); the test binds any.
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    config.listeners[0].bind = any;
    config.admin.as_mut().expect("[admin]").bind = any;
    let gateway = Gateway::start(config, Vec::new()).await.expect("start");
    let admin = gateway.admin_addr().expect("admin bound");

    for path in ["/", "/status", "/metrics"] {
        let none = ask(admin, &get(path, "")).await;
        assert!(none.starts_with("HTTP/1.1 401 "), "{path}: {none}");
        assert!(none.contains("\r\nWWW-Authenticate: Bearer"), "{none}");
        let wrong = ask(admin, &get(path, "Authorization: Bearer not-the-token\r\n")).await;
        assert!(wrong.starts_with("HTTP/1.1 401 "), "{path}: {wrong}");
        let right = ask(
            admin,
            &get(path, &format!("Authorization: Bearer {TOKEN}\r\n")),
        )
        .await;
        assert!(right.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {right}");
    }
    let health = ask(admin, &get("/healthz", "")).await;
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");

    // A browser trades the token for an HttpOnly cookie, then uses it.
    let traded = ask(admin, &get(&format!("/?token={TOKEN}"), "")).await;
    assert!(traded.starts_with("HTTP/1.1 303 "), "{traded}");
    let cookie = traded
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .expect("Set-Cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the cookie is not the token: {cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let page = ask(admin, &get("/", &format!("Cookie: {pair}\r\n"))).await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("<tbody id=\"routes\""), "{page}");
    assert!(
        page.contains("Content-Security-Policy: default-src 'none'"),
        "{page}"
    );
    gateway.shutdown().await;
}
