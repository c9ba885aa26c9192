//! Loopback sockets for tests: free ports, readiness without connecting,
//! and blocking clients whose every read and write is bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::{WAIT, poll_until};

/// A port that was free on 127.0.0.1 a moment ago (bind `:0`, release).
///
/// For peers that need the port in their configuration; there is a tiny race
/// with other processes picking the same port, accepted here.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A UDP port that was free on 127.0.0.1 a moment ago (bind `:0`, release).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind udp 127.0.0.1:0")
}

/// A port that was free on both 127.0.0.1 and ::1 a moment ago.
pub fn free_port_dual() -> u16 {
    for _ in 0..50 {
        let port = free_port();
        if TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

/// `127.0.0.1:port`.
pub fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// `[::1]:port`.
pub fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

/// Whether some socket LISTENs on TCP `port` (read from `/proc/net/tcp*`, so
/// no connection is made: a probe would count as a client).
pub fn is_listening(port: u16) -> bool {
    let wanted = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|file| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let mut fields = line.split_whitespace();
                let local = fields.nth(1).unwrap_or_default();
                let state = fields.nth(1).unwrap_or_default();
                state == "0A" && local.ends_with(&wanted)
            })
    })
}

/// Waits until every port in `ports` listens; panics after [`WAIT`].
pub fn wait_listening(what: &str, ports: &[u16]) {
    let ok = poll_until(WAIT, || {
        ports.iter().all(|p| is_listening(*p)).then_some(())
    });
    assert!(
        ok.is_some(),
        "{what} is not listening on {ports:?} after {WAIT:?}"
    );
}

/// Connects with [`WAIT`] as connect, read and write timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream =
        TcpStream::connect_timeout(&addr, WAIT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    stream
}

/// Connects to `addr` from the local address `source` (port chosen by the
/// kernel), e.g. `127.0.0.2` to appear as a second loopback client.
pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .unwrap_or_else(|e| panic!("bind {source}: {e}"));
    socket
        .connect_timeout(&addr.into(), WAIT)
        .unwrap_or_else(|e| panic!("connect {addr} from {source}: {e}"));
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    stream
}

/// How a connection ended from the client's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Bytes read before the end.
    pub bytes: Vec<u8>,
    /// True when the peer closed (EOF or reset); false when the read timed out.
    pub closed: bool,
}

impl Received {
    /// The bytes as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Reads until the peer closes, the read times out (`timeout`), or `cap`
/// bytes arrived.
pub fn read_until_close(stream: &mut TcpStream, timeout: Duration, cap: usize) -> Received {
    stream
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                return Received {
                    bytes,
                    closed: true,
                };
            }
            Ok(n) => {
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() >= cap {
                    return Received {
                        bytes,
                        closed: false,
                    };
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Received {
                    bytes,
                    closed: false,
                };
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                return Received {
                    bytes,
                    closed: true,
                };
            }
        }
    }
}

/// Sends `request` to `addr`, half-closes nothing, and reads the answer
/// until the peer closes or [`WAIT`] passes.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Received {
    let mut stream = connect(addr);
    // A refused connection may already be reset: the answer still counts.
    let _ = stream.write_all(request);
    read_until_close(&mut stream, WAIT, 1 << 20)
}

/// Sends `data`, half-closes the write side, and reads until the peer
/// closes or [`WAIT`] passes (for echo-like peers that answer until EOF).
pub fn send_and_shutdown(addr: SocketAddr, data: &[u8]) -> Received {
    let mut stream = connect(addr);
    let _ = stream.write_all(data);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    read_until_close(&mut stream, WAIT, 1 << 20)
}

/// A plain HTTP/1.1 `GET path` for `host` with `Connection: close`.
pub fn http_get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: portico-tests\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// The status code of an HTTP/1.x response, if `answer` starts with one.
pub fn http_status(answer: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// A PROXY protocol v2 header for a TCP connection `src` → `dst` (same family).
pub fn proxy_v2_header(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.push(0x21); // version 2, PROXY command
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            header.push(0x11);
            header.extend_from_slice(&12u16.to_be_bytes());
            header.extend_from_slice(&s.ip().octets());
            header.extend_from_slice(&d.ip().octets());
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            header.push(0x21);
            header.extend_from_slice(&36u16.to_be_bytes());
            header.extend_from_slice(&s.ip().octets());
            header.extend_from_slice(&d.ip().octets());
        }
        _ => panic!("PROXY v2 header needs one address family"),
    }
    header.extend_from_slice(&src.port().to_be_bytes());
    header.extend_from_slice(&dst.port().to_be_bytes());
    header
}

/// Polls until `cond` holds or [`WAIT`] passes; returns whether it held.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    poll_until(WAIT, || cond().then_some(())).is_some()
}
