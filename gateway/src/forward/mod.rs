//! The byte movers, one family sharing [`types`]: how a connection ended,
//! its totals, half-close and the idle clock.
//!
//! - [`forward`] (here): a client and its TCP backend, driven by [`pump`],
//!   one hand-written future per connection; bulk bursts go through
//!   splice(2) on Linux ([`splice`]).
//! - [`stream::copy`]: any byte stream (a terminated TLS connection) and
//!   its TCP backend, as two copy loops.
//! - [`quic::relay`]: a TCP client and a QUIC stream of the tunnel link, as
//!   two half-pipes that move chunks without a copy of their own.
//!
//! Each writes the prefix (an optional PROXY header, the bytes read while
//! sniffing) to the backend first, carries half-close both ways, stops
//! after an optional idle timeout or at the hard stop, and counts bytes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::metrics::ListenerMetrics;

mod pump;
pub(crate) mod quic;
#[cfg(target_os = "linux")]
mod splice;
pub(crate) mod stream;
mod types;

use pump::Pump;
pub(crate) use types::{End, Path, Totals};

/// Forwards between `client` and `backend` after writing `prefix` to the
/// backend. Ends when both directions are done, on the first error, after
/// `idle` without a byte (if set), or when `cancel` fires.
///
/// On Linux bulk data goes through splice(2) (see `splice`); small messages,
/// and everything where the kernel refuses splice, go through a copy.
pub(crate) fn forward(
    client: TcpStream,
    backend: TcpStream,
    prefix: Vec<u8>,
    idle: Option<Duration>,
    metrics: Arc<ListenerMetrics>,
    cancel: CancellationToken,
) -> impl Future<Output = io::Result<Totals>> + Send + 'static {
    forward_by(client, backend, prefix, idle, metrics, cancel, Path::Splice)
}

/// [`forward`] with the way bytes are moved chosen by the caller.
pub(crate) fn forward_by(
    client: TcpStream,
    backend: TcpStream,
    prefix: Vec<u8>,
    idle: Option<Duration>,
    metrics: Arc<ListenerMetrics>,
    cancel: CancellationToken,
    path: Path,
) -> impl Future<Output = io::Result<Totals>> + Send + 'static {
    run(
        Pump::new(client, backend, prefix, idle, metrics, path),
        cancel,
    )
}

/// Runs `pump` to its end or until `cancel` fires. (An `async` block using
/// the captured pump in place: an `async fn` would keep a second copy of
/// its argument in the task.)
#[allow(clippy::manual_async_fn)]
fn run(
    mut pump: Pump,
    cancel: CancellationToken,
) -> impl Future<Output = io::Result<Totals>> + Send + 'static {
    async move {
        let end = tokio::select! {
            end = &mut pump => end?,
            () = cancel.cancelled() => End::Shutdown,
        };
        let (to_backend, to_client) = pump.totals();
        Ok(Totals {
            to_backend,
            to_client,
            end,
        })
    }
}

/// Helpers for the tests of the forwarding modules.
#[cfg(test)]
pub(crate) mod test_support {
    use tokio::net::{TcpListener, TcpStream};

    /// A connected pair of TCP streams on loopback.
    pub(crate) async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.expect("connect"), b.expect("accept").0)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::pair;
    use super::*;
    use crate::metrics::Metrics;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
