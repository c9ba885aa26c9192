//! The copy between any byte stream (a terminated TLS connection) and its
//! backend (TCP, or TLS again): the prefix (an optional PROXY header) to the backend first,
//! then both directions as two copy loops until both are done, carrying
//! half-close (TLS `close_notify` ↔ TCP FIN), with an optional idle
//! timeout, counting bytes each way.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::types::{End, IdleClock, Totals};
use crate::metrics::{CountBytes as _, ListenerMetrics};

/// Buffer size of each copy direction.
pub(crate) const STREAM_BUFFER: usize = 16 * 1024;

/// One way of the copy: until end of stream, then pass the half-close on.
async fn copy_one_way<R, W>(
    mut from: R,
    mut to: W,
    count: impl Fn(u64),
    clock: &IdleClock,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; STREAM_BUFFER];
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
        clock.touch();
    }
}

/// Copies between `client` and `backend` after writing `prefix` to the
/// backend. Ends when both ways are done, on the first error, after `idle`
/// without a byte (if set), or when `cancel` fires.
pub(crate) async fn copy<C, B>(
    client: C,
    mut backend: B,
    prefix: Vec<u8>,
    idle: Option<Duration>,
    metrics: &ListenerMetrics,
    cancel: CancellationToken,
) -> io::Result<Totals>
where
    C: AsyncRead + AsyncWrite,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let clock = IdleClock::new();
    let to_backend = AtomicU64::new(0);
    let to_client = AtomicU64::new(0);
    if !prefix.is_empty() {
        backend.write_all(&prefix).await?;
        to_backend.fetch_add(prefix.len() as u64, Ordering::Relaxed);
        metrics.add_to_backend(prefix.len() as u64);
    }
    let (client_read, client_write) = tokio::io::split(client);
    let (backend_read, backend_write) = tokio::io::split(backend);
    let work = async {
        tokio::try_join!(
            copy_one_way(
                client_read,
                backend_write,
                |n| {
                    to_backend.fetch_add(n, Ordering::Relaxed);
                    metrics.add_to_backend(n);
                },
                &clock,
            ),
            copy_one_way(
                backend_read,
                client_write,
                |n| {
                    to_client.fetch_add(n, Ordering::Relaxed);
                    metrics.add_to_client(n);
                },
                &clock,
            ),
        )
    };
    let end = tokio::select! {
        result = work => {
            result?;
            End::Done
        }
        () = clock.expired(idle) => End::Idle,
        () = cancel.cancelled() => End::Shutdown,
    };
    Ok(Totals {
        to_backend: to_backend.load(Ordering::Relaxed),
        to_client: to_client.load(Ordering::Relaxed),
        end,
    })
}
