//! The byte pipe between a client and its backend: an optional prefix (PROXY
//! header and the bytes read while sniffing) to the backend first, then both
//! directions until both are done, carrying half-close, with an optional
//! idle timeout, counting bytes each way.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use crate::metrics::ListenerMetrics;

/// Buffer size of each direction.
pub const FORWARD_BUFFER: usize = 32 * 1024;

/// How a forwarded connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both directions reached end of stream.
    Done,
    /// No byte either way for the idle timeout.
    Idle,
    /// The gateway is shutting down and the grace period is over.
    Shutdown,
}

/// The result of a forwarded connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Bytes written to the backend (prefix included).
    pub to_backend: u64,
    /// Bytes written to the client.
    pub to_client: u64,
    /// How it ended.
    pub end: End,
}

/// Milliseconds since `base` of the last byte moved in either direction.
#[derive(Debug)]
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Which way a pipe runs, for the byte counters.
#[derive(Debug, Clone, Copy)]
enum Direction {
    ToBackend,
    ToClient,
}

async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    metrics: &ListenerMetrics,
    activity: &Activity,
    total: &AtomicU64,
) -> io::Result<()> {
    let mut buf = vec![0u8; FORWARD_BUFFER];
    loop {
        let n = from.read(&mut buf).await?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            // End of stream this way: pass the half-close on, keep the other
            // way going. A peer that already went away cannot be told; that
            // is no reason to cut the other direction short.
            let _ = to.shutdown().await;
            return Ok(());
        };
        to.write_all(chunk).await?;
        activity.touch();
        let n = n as u64;
        total.fetch_add(n, Ordering::Relaxed);
        match direction {
            Direction::ToBackend => metrics.add_to_backend(n),
            Direction::ToClient => metrics.add_to_client(n),
        }
    }
}

/// Forwards between `client` and `backend` after writing `prefix` to the
/// backend. Ends when both directions are done, on the first error, after
/// `idle` without a byte (if set), or when `cancel` fires.
pub async fn forward(
    client: TcpStream,
    backend: TcpStream,
    prefix: Vec<u8>,
    idle: Option<Duration>,
    metrics: Arc<ListenerMetrics>,
    cancel: CancellationToken,
) -> io::Result<Totals> {
    let activity = Activity {
        base: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let to_backend = AtomicU64::new(0);
    let to_client = AtomicU64::new(0);
    let (client_read, client_write) = client.into_split();
    let (backend_read, mut backend_write) = backend.into_split();

    let work = async {
        if !prefix.is_empty() {
            backend_write.write_all(&prefix).await?;
            let n = prefix.len() as u64;
            to_backend.fetch_add(n, Ordering::Relaxed);
            metrics.add_to_backend(n);
            activity.touch();
        }
        // The sniffed bytes are with the backend now; free them before the long copy.
        drop(prefix);
        tokio::try_join!(
            pipe(
                client_read,
                backend_write,
                Direction::ToBackend,
                &metrics,
                &activity,
                &to_backend
            ),
            pipe(
                backend_read,
                client_write,
                Direction::ToClient,
                &metrics,
                &activity,
                &to_client
            ),
        )
        .map(|_| ())
    };
    let idle_watch = async {
        match idle {
            None => std::future::pending::<()>().await,
            Some(idle) => loop {
                let deadline = activity.last() + idle;
                if Instant::now() >= deadline {
                    return;
                }
                tokio::time::sleep_until(deadline.into()).await;
            },
        }
    };
    let end = tokio::select! {
        result = work => {
            result?;
            End::Done
        }
        () = idle_watch => End::Idle,
        () = cancel.cancelled() => End::Shutdown,
    };
    Ok(Totals {
        to_backend: to_backend.load(Ordering::Relaxed),
        to_client: to_client.load(Ordering::Relaxed),
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use tokio::net::TcpListener;

    /// A connected pair of TCP streams on loopback.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.expect("connect"), b.expect("accept").0)
    }

    #[tokio::test]
    async fn prefix_first_then_both_ways_with_half_close() {
        let (mut client, client_side) = pair().await;
        let (backend_side, mut backend) = pair().await;
        let metrics = Metrics::default().listener("t");
        let task = tokio::spawn(forward(
            client_side,
            backend_side,
            b"PREFIX".to_vec(),
            None,
            Arc::clone(&metrics),
            CancellationToken::new(),
        ));
        client.write_all(b"ping").await.expect("write");
        client.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        backend
            .read_to_end(&mut got)
            .await
            .expect("backend reads to EOF");
        assert_eq!(got, b"PREFIXping");
        // The other direction still works after the client's half-close.
        backend.write_all(b"pong").await.expect("write back");
        backend.shutdown().await.expect("backend half-close");
        let mut back = Vec::new();
        client
            .read_to_end(&mut back)
            .await
            .expect("client reads to EOF");
        assert_eq!(back, b"pong");
        let totals = task.await.expect("join").expect("forward ok");
        assert_eq!(
            totals,
            Totals {
                to_backend: 10,
                to_client: 4,
                end: End::Done
            }
        );
    }

    #[tokio::test]
    async fn idle_timeout_closes_both() {
        let (mut client, client_side) = pair().await;
        let (backend_side, mut backend) = pair().await;
        let metrics = Metrics::default().listener("t");
        let totals = forward(
            client_side,
            backend_side,
            Vec::new(),
            Some(Duration::from_millis(50)),
            metrics,
            CancellationToken::new(),
        )
        .await
        .expect("forward ok");
        assert_eq!(totals.end, End::Idle);
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.expect("client EOF"), 0);
        assert_eq!(
            backend.read_to_end(&mut rest).await.expect("backend EOF"),
            0
        );
    }

    #[tokio::test]
    async fn cancel_ends_the_pipe() {
        let (_client, client_side) = pair().await;
        let (backend_side, _backend) = pair().await;
        let cancel = CancellationToken::new();
        cancel.cancel();
        let metrics = Metrics::default().listener("t");
        let totals = forward(client_side, backend_side, Vec::new(), None, metrics, cancel)
            .await
            .expect("forward ok");
        assert_eq!(totals.end, End::Shutdown);
    }
}
