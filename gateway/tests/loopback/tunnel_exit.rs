//! Proxy clients through the tunnel link: a `CONNECT` on an `exit = true`
//! route reaches the tunnel client as an exit stream asking for an answer,
//! and the client hears `200` only after the tunnel client's `CONNECTED`;
//! an exit the tunnel client refuses is `403`, one it cannot reach `502`.

use std::time::Duration;

use portico_config::Secret;
use portico_config::model::{Access, User};
use portico_link::{CONNECTED, Session, codes};
use portico_sniff::{Hostname, Protocol, ProtocolSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pipeline::start;
use crate::tunnel_fixtures::{connect_home, pki, tunnel_config};

const PASSWORD: &str = "correct horse battery";

fn connect_head(target: &str) -> Vec<u8> {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {token}\r\n\r\n"
    )
    .into_bytes()
}

/// What the minimal tunnel client does with the next stream.
enum Act {
    /// Answer `CONNECTED`, then echo.
    Connect,
    /// Reset with this code.
    Reset(u32),
}

/// Takes one stream, checks it is the exit to `host:port`, acts; returns
/// the stream's halves after a `CONNECTED` answer.
async fn serve_one(
    session: &Session,
    host: &str,
    port: u16,
    act: Act,
) -> Option<(quinn::SendStream, quinn::RecvStream)> {
    let (header, mut send, recv) = session.accept_stream().await.expect("a stream");
    assert_eq!(header.protocol, Some(Protocol::Connect));
    assert!(header.answer, "a proxy client's stream asks for an answer");
    assert_eq!(header.exit, Some(port));
    assert_eq!(header.host, Some(Hostname::parse_str(host).expect("host")));
    match act {
        Act::Connect => {
            send.write_all(&[CONNECTED]).await.expect("answer");
            Some((send, recv))
        }
        Act::Reset(code) => {
            let _ = send.reset(codes::varint(code));
            None
        }
    }
}

async fn read_head(client: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") && got.len() < 4096 {
        match tokio::time::timeout(Duration::from_secs(10), client.read(&mut byte)).await {
            Ok(Ok(1)) => got.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn connect_exits_wait_for_the_tunnel_clients_answer() {
    let pki = pki();
    let mut config = tunnel_config(&pki);
    config.listeners[0].protocols = ProtocolSet::only(Protocol::Connect);
    config.routes[0].protocols = ProtocolSet::only(Protocol::Connect);
    config.routes[0].proxy_protocol = None;
    config.routes[0].access = Access {
        users: vec!["alice".into()],
        exit: true,
        ..Access::default()
    };
    config.users = vec![User {
        name: "alice".into(),
        password: Secret::new(PASSWORD.as_bytes().to_vec()),
    }];
    let (gateway, addr) = start(config).await;
    let link = gateway.tunnel_addr().expect("[tunnels] bound");
    let (_endpoint, session) = connect_home(&pki, &gateway, link).await;

    // Admitted: 200 once the tunnel client answered, then bytes both ways.
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(&connect_head("192.168.1.10:5000"))
        .await
        .expect("write");
    let (mut send, mut recv) = serve_one(&session, "192.168.1.10", 5000, Act::Connect)
        .await
        .expect("connected");
    assert_eq!(
        read_head(&mut client).await,
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
    client.write_all(b"ping").await.expect("ping");
    let mut buf = [0u8; 4];
    recv.read_exact(&mut buf).await.expect("ping arrives");
    send.write_all(&buf).await.expect("echo");
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo).await.expect("echo");
    assert_eq!(&echo, b"ping");
    drop(client);

    // Refused by the exit list: 403; unreachable there: 502.
    for (code, status) in [
        (codes::STREAM_EXIT_DENIED, "HTTP/1.1 403 Forbidden\r\n"),
        (codes::STREAM_UNDELIVERABLE, "HTTP/1.1 502 Bad Gateway\r\n"),
    ] {
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(&connect_head("nas.lan:22"))
            .await
            .expect("write");
        serve_one(&session, "nas.lan", 22, Act::Reset(code)).await;
        let head = read_head(&mut client).await;
        assert!(head.starts_with(status), "{head}");
    }
}
