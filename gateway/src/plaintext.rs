//! The plaintext copy of a terminated connection: the optional PROXY
//! header to the backend first, then both directions until both are done,
//! carrying half-close (TLS `close_notify` ↔ TCP FIN), with an optional idle
//! timeout, counting bytes each way.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::metrics::ListenerMetrics;
use crate::terminate::Terminated;

/// Buffer size of each copy direction.
pub const TERMINATE_BUFFER: usize = 16 * 1024;

/// Bytes moved by [`copy_plaintext`], and whether it ended on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Bytes written to the backend (PROXY header included).
    pub to_backend: u64,
    /// Plaintext bytes written to the client.
    pub to_client: u64,
    /// False when the idle timeout or the shutdown cut it short.
    pub done: bool,
}

/// One way of the copy: until end of stream, then pass the half-close on.
async fn copy_one_way<R, W>(
    mut from: R,
    mut to: W,
    count: impl Fn(u64),
    touched: &AtomicU64,
    base: Instant,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; TERMINATE_BUFFER];
    loop {
        let n = match from.read(&mut buf).await {
            // A TLS peer that closes TCP without close_notify: end of
            // stream all the same (the plaintext carries its own framing).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            read => read?,
        };
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            // A peer already gone cannot be told; the other way goes on.
            let _ = to.shutdown().await;
            return Ok(());
        };
        to.write_all(chunk).await?;
        to.flush().await?;
        count(n as u64);
        let ms = u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX);
        touched.store(ms, Ordering::Relaxed);
    }
}

/// Copies plaintext between the terminated `client` and `backend` after
/// writing `prefix` (the optional PROXY header) to the backend. Ends when
/// both ways are done, on the first error, after `idle` without a byte (if
/// set), or when `cancel` fires.
pub async fn copy_plaintext(
    client: Terminated,
    mut backend: TcpStream,
    prefix: Vec<u8>,
    idle: Option<Duration>,
    metrics: Arc<ListenerMetrics>,
    cancel: CancellationToken,
) -> io::Result<Copied> {
    let base = Instant::now();
    let touched = AtomicU64::new(0);
    let to_backend = AtomicU64::new(0);
    let to_client = AtomicU64::new(0);
    if !prefix.is_empty() {
        backend.write_all(&prefix).await?;
        to_backend.fetch_add(prefix.len() as u64, Ordering::Relaxed);
        metrics.add_to_backend(prefix.len() as u64);
    }
    let (client_read, client_write) = tokio::io::split(client);
    let (backend_read, backend_write) = backend.into_split();
    let work = async {
        tokio::try_join!(
            copy_one_way(
                client_read,
                backend_write,
                |n| {
                    to_backend.fetch_add(n, Ordering::Relaxed);
                    metrics.add_to_backend(n);
                },
                &touched,
                base,
            ),
            copy_one_way(
                backend_read,
                client_write,
                |n| {
                    to_client.fetch_add(n, Ordering::Relaxed);
                    metrics.add_to_client(n);
                },
                &touched,
                base,
            ),
        )
    };
    let idle_watch = async {
        let Some(idle) = idle else {
            return std::future::pending::<()>().await;
        };
        loop {
            let last = base + Duration::from_millis(touched.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    };
    let done = tokio::select! {
        result = work => {
            result?;
            true
        }
        () = idle_watch => false,
        () = cancel.cancelled() => false,
    };
    Ok(Copied {
        to_backend: to_backend.load(Ordering::Relaxed),
        to_client: to_client.load(Ordering::Relaxed),
        done,
    })
}
