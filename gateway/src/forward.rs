//! The byte pipe between a client and its backend: an optional prefix (PROXY
//! header and the bytes read while sniffing) to the backend first, then both
//! directions until both are done, carrying half-close, with an optional
//! idle timeout, counting bytes each way.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::metrics::ListenerMetrics;

/// Buffer size of each direction's copy. The buffer exists only while bytes
/// flow: it is allocated when the source becomes readable and freed before
/// waiting for more, so an idle connection holds none. A read that fills it
/// marks bulk data, which goes on through splice(2) on Linux. 32 KiB by
/// measurement: 16 KiB and 64 KiB cost more gateway CPU per byte copied.
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

/// Which way bytes run, for the byte counters.
#[derive(Debug, Clone, Copy)]
enum Direction {
    ToBackend,
    ToClient,
}

/// Where one direction reports the bytes it delivered.
#[derive(Debug)]
pub(crate) struct Flow<'a> {
    direction: Direction,
    metrics: &'a ListenerMetrics,
    activity: &'a Activity,
    total: &'a AtomicU64,
}

impl Flow<'_> {
    /// Records `n` bytes written to the destination.
    pub(crate) fn moved(&self, n: usize) {
        self.activity.touch();
        let n = n as u64;
        self.total.fetch_add(n, Ordering::Relaxed);
        match self.direction {
            Direction::ToBackend => self.metrics.add_to_backend(n),
            Direction::ToClient => self.metrics.add_to_client(n),
        }
    }
}

/// Counters for a [`Flow`] outside [`forward`], for unit tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct TestCounters {
    metrics: Arc<ListenerMetrics>,
    activity: Activity,
    total: AtomicU64,
}

#[cfg(test)]
impl TestCounters {
    pub(crate) fn new() -> Self {
        Self {
            metrics: crate::metrics::Metrics::default().listener("t"),
            activity: Activity {
                base: Instant::now(),
                last_ms: AtomicU64::new(0),
            },
            total: AtomicU64::new(0),
        }
    }

    pub(crate) fn flow(&self) -> Flow<'_> {
        Flow {
            direction: Direction::ToBackend,
            metrics: &self.metrics,
            activity: &self.activity,
            total: &self.total,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// How the bytes of each direction are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Copy small reads; on Linux, hand bulk bursts to splice(2), falling
    /// back to the copy where the kernel refuses it.
    Splice,
    /// Always the copy loop.
    #[cfg_attr(not(test), allow(dead_code))]
    Copy,
}

/// Passes end of stream on to `to`. A peer that already went away cannot be
/// told; that is no reason to cut the other direction short.
pub(crate) fn half_close(to: &TcpStream) {
    let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
}

/// Writes all of `bytes` to `to`, waiting for room as needed.
async fn write_all(to: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        match to.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Moves `from` to `to` until end of stream, then half-closes `to`.
///
/// Each burst starts with a copy through a buffer that exists only while
/// bytes flow. With [`Path::Splice`], a read that fills the whole buffer
/// (more is waiting: bulk data) hands the rest of the burst to splice(2);
/// small messages stay with the copy, which takes fewer system calls.
async fn one_way(from: &TcpStream, to: &TcpStream, flow: Flow<'_>, path: Path) -> io::Result<()> {
    let mut splice = path == Path::Splice && cfg!(target_os = "linux");
    loop {
        from.readable().await?;
        let mut buf = Vec::with_capacity(FORWARD_BUFFER);
        let n = match from.try_read_buf(&mut buf) {
            Ok(0) => {
                half_close(to);
                return Ok(());
            }
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        };
        write_all(to, &buf).await?;
        flow.moved(n);
        // Freed before waiting for more input: an idle connection holds none.
        drop(buf);
        if !splice || n < FORWARD_BUFFER {
            continue;
        }
        #[cfg(target_os = "linux")]
        match crate::splice::splice_burst(from, to, &flow).await? {
            crate::splice::Burst::Drained => {}
            crate::splice::Burst::Finished => return Ok(()),
            crate::splice::Burst::Unsupported(err) => {
                tracing::debug!(error = %err, "splice not available here; copying");
                splice = false;
            }
        }
    }
}

/// Forwards between `client` and `backend` after writing `prefix` to the
/// backend. Ends when both directions are done, on the first error, after
/// `idle` without a byte (if set), or when `cancel` fires.
///
/// On Linux bulk data goes through splice(2) (see `splice`); small messages,
/// and everything where the kernel refuses splice, go through a copy.
pub async fn forward(
    client: TcpStream,
    backend: TcpStream,
    prefix: Vec<u8>,
    idle: Option<Duration>,
    metrics: Arc<ListenerMetrics>,
    cancel: CancellationToken,
) -> io::Result<Totals> {
    forward_by(client, backend, prefix, idle, metrics, cancel, Path::Splice).await
}

/// [`forward`] with the way bytes are moved chosen by the caller.
pub(crate) async fn forward_by(
    client: TcpStream,
    backend: TcpStream,
    prefix: Vec<u8>,
    idle: Option<Duration>,
    metrics: Arc<ListenerMetrics>,
    cancel: CancellationToken,
    path: Path,
) -> io::Result<Totals> {
    let activity = Activity {
        base: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let to_backend = AtomicU64::new(0);
    let to_client = AtomicU64::new(0);
    let flow = |direction, total| Flow {
        direction,
        metrics: &metrics,
        activity: &activity,
        total,
    };

    let work = async {
        if !prefix.is_empty() {
            write_all(&backend, &prefix).await?;
            flow(Direction::ToBackend, &to_backend).moved(prefix.len());
        }
        // The sniffed bytes are with the backend now; free them before the long copy.
        drop(prefix);
        tokio::try_join!(
            one_way(
                &client,
                &backend,
                flow(Direction::ToBackend, &to_backend),
                path
            ),
            one_way(
                &backend,
                &client,
                flow(Direction::ToClient, &to_client),
                path
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
