//! The `[admin]` endpoint: a minimal HTTP/1.1 server for `GET /metrics`
//! (Prometheus text), `GET /status` (JSON) and `GET /healthz`. One request
//! per connection; requests are capped in size, time and number.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Largest request head accepted.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a client may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing the response may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Admin connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;

/// A response: status line, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// e.g. `200 OK`.
    pub status: &'static str,
    /// `Content-Type` value.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }

    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Answers one request head (everything up to the blank line).
pub fn respond(
    head: &[u8],
    metrics: &Metrics,
    status: &(dyn Fn() -> String + Send + Sync),
) -> (Response, bool) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return (Response::text("400 Bad Request", "bad request"), false);
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return (Response::text("400 Bad Request", "bad request"), false);
    }
    let head_only = method == "HEAD";
    let path = target.split('?').next().unwrap_or_default();
    let known = matches!(path, "/metrics" | "/status" | "/healthz");
    if !known {
        return (Response::text("404 Not Found", "not found"), head_only);
    }
    if method != "GET" && !head_only {
        return (
            Response::text("405 Method Not Allowed", "method not allowed"),
            false,
        );
    }
    let response = match path {
        "/metrics" => Response {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: metrics.render(),
        },
        "/status" => Response {
            status: "200 OK",
            content_type: "application/json",
            body: status(),
        },
        _ => Response::text("200 OK", "ok"),
    };
    (response, head_only)
}

async fn serve_one(
    mut stream: TcpStream,
    metrics: &Metrics,
    status: &(dyn Fn() -> String + Send + Sync),
) {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        loop {
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
                return true;
            }
            if buf.len() >= MAX_REQUEST {
                return false;
            }
            let room = MAX_REQUEST - buf.len();
            match (&mut stream).take(room as u64).read_buf(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    };
    let response = match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(true) => respond(&buf, metrics, status),
        Ok(false) if buf.len() >= MAX_REQUEST => (
            Response::text("431 Request Header Fields Too Large", "request too large"),
            false,
        ),
        Ok(false) => return,
        Err(_) => (
            Response::text("408 Request Timeout", "request timeout"),
            false,
        ),
    };
    let bytes = response.0.to_bytes(response.1);
    let write = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, write).await;
}

/// Serves the admin endpoint on `listener` until `cancel` fires.
pub async fn serve<F>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    status: F,
    cancel: CancellationToken,
) where
    F: Fn() -> String + Send + Sync + 'static,
{
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin endpoint listening");
    }
    let status = Arc::new(status);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Resource exhaustion: pause briefly rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let (metrics, status) = (Arc::clone(&metrics), Arc::clone(&status));
        tokio::spawn(async move {
            let _permit = permit;
            serve_one(stream, &metrics, &*status).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(head: &str) -> Response {
        let metrics = Metrics::default();
        metrics.count_accept_error();
        respond(head.as_bytes(), &metrics, &|| "{\"routes\":0}".to_owned()).0
    }

    #[test]
    fn routes_requests() {
        let m = ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(m.status, "200 OK");
        assert!(m.body.contains("portico_accept_errors_total 1\n"));
        let s = ask("GET /status HTTP/1.1\r\n\r\n");
        assert_eq!(
            (s.status, s.content_type, s.body.as_str()),
            ("200 OK", "application/json", "{\"routes\":0}")
        );
        assert_eq!(ask("GET /healthz HTTP/1.0\r\n\r\n").body, "ok\n");
        assert_eq!(ask("GET /nope HTTP/1.1\r\n\r\n").status, "404 Not Found");
        assert_eq!(
            ask("POST /metrics HTTP/1.1\r\n\r\n").status,
            "405 Method Not Allowed"
        );
        assert_eq!(ask("garbage\r\n\r\n").status, "400 Bad Request");
    }

    #[tokio::test]
    async fn serves_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            Arc::new(Metrics::default()),
            String::new,
            cancel.clone(),
        ));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .expect("write");
        let mut got = String::new();
        client.read_to_string(&mut got).await.expect("read");
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\nok\n"), "{got}");
        cancel.cancel();
        task.await.expect("admin server stops");
    }
}
