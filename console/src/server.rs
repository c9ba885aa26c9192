//! The admin endpoint's server: accepts connections (at most
//! `max_connections` at once), reads one request head each (capped in size
//! and time), answers and closes; samples the program's totals into the
//! [`History`] every `sample_interval`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::AdminToken;
use crate::history::History;
use crate::model::Status;
use crate::request::{self, RequestError};
use crate::respond::{Context, Response, respond};

/// What a program reports through its admin endpoint.
pub trait StatusSource: Send + Sync + 'static {
    /// The `/status` document without `history` (the server adds it):
    /// `now`, the totals and the refusal totals filled in.
    fn status(&self) -> Status;
    /// The Prometheus text of `/metrics`.
    fn metrics(&self) -> String;
}

/// Limits and timing of the admin endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSettings {
    /// Largest request head accepted; a larger one gets 431. Default 8 KiB.
    pub max_request: usize,
    /// How long a client may take to send its request head. Default 5 s.
    pub read_timeout: Duration,
    /// How long writing the response may take. Default 5 s.
    pub write_timeout: Duration,
    /// Admin connections served at once; more are closed at once. Default 64.
    pub max_connections: usize,
    /// How often the totals are sampled for the chart. Default 5 s.
    pub sample_interval: Duration,
    /// Samples kept (with the interval: the chart's and the recent
    /// refusals' span). Default 60, five minutes.
    pub history_len: usize,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            max_request: 8 * 1024,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            max_connections: 64,
            sample_interval: Duration::from_secs(5),
            history_len: 60,
        }
    }
}

/// What each connection's task shares.
struct Shared {
    source: Arc<dyn StatusSource>,
    token: Option<AdminToken>,
    history: History,
    settings: AdminSettings,
}

impl Shared {
    fn status(&self) -> Status {
        let mut status = self.source.status();
        self.history.decorate(&mut status);
        status
    }
}

/// Reads a request head; `Err` carries the answer for a bad one, `Ok(None)`
/// means the client went away.
async fn read_head(
    stream: &mut TcpStream,
    max: usize,
) -> Result<Option<request::Request>, Response> {
    let mut buf = Vec::with_capacity(1024.min(max));
    loop {
        match request::parse(&buf) {
            Ok(Some(request)) => return Ok(Some(request)),
            Ok(None) => {}
            Err(RequestError::TooManyHeaders) => {
                return Err(Response::text(
                    "431 Request Header Fields Too Large",
                    "too many headers",
                ));
            }
            Err(RequestError::Malformed) => {
                return Err(Response::text("400 Bad Request", "bad request"));
            }
        }
        if buf.len() >= max {
            return Err(Response::text(
                "431 Request Header Fields Too Large",
                "request too large",
            ));
        }
        let room = u64::try_from(max - buf.len()).unwrap_or(u64::MAX);
        match (&mut *stream).take(room).read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

async fn serve_one(mut stream: TcpStream, shared: &Shared) {
    let settings = shared.settings;
    let read = tokio::time::timeout(
        settings.read_timeout,
        read_head(&mut stream, settings.max_request),
    )
    .await;
    let (response, head_only) = match read {
        Ok(Ok(Some(request))) => {
            let status = || shared.status();
            let metrics = || shared.source.metrics();
            let ctx = Context {
                token: shared.token.as_ref(),
                status: &status,
                metrics: &metrics,
            };
            respond(&request, &ctx)
        }
        Ok(Ok(None)) => return,
        Ok(Err(answer)) => (answer, false),
        Err(_) => (
            Response::text("408 Request Timeout", "request timeout"),
            false,
        ),
    };
    let bytes = response.to_bytes(head_only);
    let write = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(settings.write_timeout, write).await;
}

/// Serves the admin endpoint on `listener` until `cancel` fires. With a
/// `token`, everything but `/healthz` and the page's assets needs it.
pub async fn serve(
    listener: TcpListener,
    source: Arc<dyn StatusSource>,
    token: Option<AdminToken>,
    settings: AdminSettings,
    cancel: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, token = token.is_some(), "admin endpoint listening");
    }
    let shared = Arc::new(Shared {
        source,
        token,
        history: History::new(settings.history_len),
        settings,
    });
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut sampler =
        tokio::time::interval(settings.sample_interval.max(Duration::from_millis(100)));
    sampler.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            _ = sampler.tick() => {
                shared.history.record(&shared.source.status());
                continue;
            }
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
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            serve_one(stream, &shared).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl StatusSource for Fixed {
        fn status(&self) -> Status {
            Status {
                program: "test".into(),
                ..Status::default()
            }
        }
        fn metrics(&self) -> String {
            "m 1\n".to_owned()
        }
    }

    async fn get(addr: std::net::SocketAddr, head: &str) -> String {
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(head.as_bytes()).await.expect("write");
        let mut got = String::new();
        client.read_to_string(&mut got).await.expect("read");
        got
    }

    #[tokio::test]
    async fn serves_over_tcp_and_caps_the_head() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cancel = CancellationToken::new();
        let settings = AdminSettings {
            max_request: 256,
            ..AdminSettings::default()
        };
        let task = tokio::spawn(serve(
            listener,
            Arc::new(Fixed),
            None,
            settings,
            cancel.clone(),
        ));
        let got = get(addr, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\nok\n"), "{got}");
        let status = get(addr, "GET /status HTTP/1.1\r\n\r\n").await;
        assert!(status.contains("\"history\":[{"), "{status}");
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(300));
        assert!(get(addr, &big).await.starts_with("HTTP/1.1 431 "));
        let head = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        cancel.cancel();
        task.await.expect("admin server stops");
    }
}
