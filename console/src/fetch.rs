//! The `status` commands' client: one `GET /status` to a program's admin
//! endpoint, with the token when one is configured, bounded in time and
//! size, answered with the parsed document and its JSON text.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::model::Status;

/// Largest response read, in bytes.
pub const MAX_RESPONSE: u64 = 8 * 1024 * 1024;

/// Why the status could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Nothing answers at the address.
    #[error(
        "cannot connect to the admin endpoint at {addr}: {source} (is the program running, with this [admin] bind?)"
    )]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The endpoint took too long.
    #[error("the admin endpoint at {addr} did not answer within {timeout:?}")]
    Timeout {
        /// Where.
        addr: SocketAddr,
        /// The bound.
        timeout: Duration,
    },
    /// Reading or writing failed.
    #[error("talking to the admin endpoint at {addr}: {source}")]
    Io {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The token was missing or wrong.
    #[error("the admin endpoint at {addr} refused the request (401): check [admin] token_file")]
    Unauthorized {
        /// Where.
        addr: SocketAddr,
    },
    /// Another status code.
    #[error("the admin endpoint at {addr} answered {status}")]
    Status {
        /// Where.
        addr: SocketAddr,
        /// The status line's code and text.
        status: String,
    },
    /// Not an HTTP response, or larger than [`MAX_RESPONSE`].
    #[error("the admin endpoint at {addr} sent a malformed or oversized response")]
    Malformed {
        /// Where.
        addr: SocketAddr,
    },
    /// The body is not a status document.
    #[error("the admin endpoint at {addr} sent no status document: {source}")]
    Json {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: serde_json::Error,
    },
    /// The token cannot travel in a header.
    #[error("the token contains bytes that cannot be sent in an HTTP header")]
    TokenNotPrintable,
}

/// Where to reach an endpoint bound to `bind`: a wildcard address is
/// reached on the loopback address of its family.
pub fn connect_addr(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

fn io_error(addr: SocketAddr, timeout: Duration, source: std::io::Error) -> FetchError {
    if matches!(
        source.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ) {
        FetchError::Timeout { addr, timeout }
    } else {
        FetchError::Io { addr, source }
    }
}

/// Fetches `/status` from `addr` within `timeout` (connecting, sending and
/// reading together), sending `token` as `Authorization: Bearer`.
pub fn fetch_status(
    addr: SocketAddr,
    token: Option<&[u8]>,
    timeout: Duration,
) -> Result<(Status, String), FetchError> {
    let auth = match token {
        Some(t) if t.iter().all(|b| b.is_ascii_graphic()) => {
            format!("Authorization: Bearer {}\r\n", String::from_utf8_lossy(t))
        }
        Some(_) => return Err(FetchError::TokenNotPrintable),
        None => String::new(),
    };
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|source| {
        if source.kind() == std::io::ErrorKind::TimedOut {
            FetchError::Timeout { addr, timeout }
        } else {
            FetchError::Connect { addr, source }
        }
    })?;
    let request = format!(
        "GET /status HTTP/1.1\r\nHost: {addr}\r\n{auth}Accept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .set_write_timeout(Some(left()))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|e| io_error(addr, timeout, e))?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(FetchError::Timeout { addr, timeout });
        }
        stream
            .set_read_timeout(Some(left()))
            .map_err(|e| io_error(addr, timeout, e))?;
        let n = stream
            .read(&mut chunk)
            .map_err(|e| io_error(addr, timeout, e))?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if u64::try_from(response.len()).unwrap_or(u64::MAX) > MAX_RESPONSE {
            return Err(FetchError::Malformed { addr });
        }
    }
    parse_response(addr, &response)
}

/// The document in a whole `Connection: close` response.
fn parse_response(addr: SocketAddr, response: &[u8]) -> Result<(Status, String), FetchError> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(FetchError::Malformed { addr })?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(FetchError::Malformed { addr });
    };
    if !version.starts_with("HTTP/1.") {
        return Err(FetchError::Malformed { addr });
    }
    match code {
        "200" => {}
        "401" => return Err(FetchError::Unauthorized { addr }),
        _ => {
            return Err(FetchError::Status {
                addr,
                status: status_line
                    .split_once(' ')
                    .map(|(_, s)| s)
                    .unwrap_or("")
                    .to_owned(),
            });
        }
    }
    let status: Status =
        serde_json::from_str(body).map_err(|source| FetchError::Json { addr, source })?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9".parse().expect("addr")
    }

    #[test]
    fn wildcards_are_reached_on_loopback() {
        assert_eq!(
            connect_addr("0.0.0.0:9180".parse().expect("a")),
            "127.0.0.1:9180".parse().expect("a")
        );
        assert_eq!(
            connect_addr("[::]:9180".parse().expect("a")),
            "[::1]:9180".parse().expect("a")
        );
        assert_eq!(
            connect_addr("10.0.0.1:1".parse().expect("a")),
            "10.0.0.1:1".parse().expect("a")
        );
    }

    #[test]
    fn reads_responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"program\":\"p\"}\n";
        let (status, raw) = parse_response(addr(), ok).expect("ok");
        assert_eq!(
            (status.program.as_str(), raw.as_str()),
            ("p", "{\"program\":\"p\"}\n")
        );
        assert!(matches!(
            parse_response(addr(), b"HTTP/1.1 401 Unauthorized\r\n\r\nunauthorized\n"),
            Err(FetchError::Unauthorized { .. })
        ));
        assert!(matches!(
            parse_response(addr(), b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Err(FetchError::Status { status, .. }) if status == "404 Not Found"
        ));
        assert!(matches!(
            parse_response(addr(), b"SSH-2.0-x\r\n"),
            Err(FetchError::Malformed { .. })
        ));
        assert!(matches!(
            parse_response(addr(), b"HTTP/1.1 200 OK\r\n\r\nnot json"),
            Err(FetchError::Json { .. })
        ));
    }

    #[test]
    fn refused_connections_and_silent_endpoints_are_clear_errors() {
        // A port nothing listens on (bound, then closed).
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = free.local_addr().expect("addr");
        drop(free);
        let err = fetch_status(port, None, Duration::from_secs(2)).expect_err("refused");
        assert!(matches!(err, FetchError::Connect { .. }), "{err}");
        // A listener that never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let at = silent.local_addr().expect("addr");
        let started = Instant::now();
        let err = fetch_status(at, None, Duration::from_millis(300)).expect_err("timeout");
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(matches!(
            fetch_status(at, Some(b"bad token\n"), Duration::from_millis(300)),
            Err(FetchError::TokenNotPrintable)
        ));
    }
}
