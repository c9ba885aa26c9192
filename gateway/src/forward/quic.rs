//! The half-pipes between a TCP client and its tunnel stream: the bytes read
//! while sniffing first, then both directions until both are done, with
//! half-close carried (TCP end of stream → `finish`, stream end → TCP
//! `shutdown`), an optional idle timeout and byte counts. A stream that
//! fails before the tunnel client sent any byte back is reported as
//! [`RelayError::Undelivered`], so the caller can still answer the client.
//! Bytes move without a user-space copy of their own: TCP reads become
//! owned chunks handed to the stream's send buffer, and received chunks
//! are written to TCP from where quinn decrypted them. A direction holds a
//! buffer only while bytes flow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portico_link::{ChunkReader, codes};
use quinn::{ReadError, RecvStream, SendStream, WriteError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio_util::sync::CancellationToken;

use super::types::{End, FORWARD_BUFFER, IdleClock, Totals};
use crate::metrics::CountBytes;

/// Why a relayed connection ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    /// The stream failed before any byte came back from the tunnel client
    /// (no service took it, the service is down, the session went away);
    /// nothing was written to the TCP client yet.
    #[error("tunnel stream failed before any answer: {0}")]
    Undelivered(String),
    /// The TCP client's side failed.
    #[error("client: {0}")]
    Client(#[from] std::io::Error),
    /// Sending on the stream failed after bytes came back.
    #[error("sending to the tunnel: {0}")]
    Write(WriteError),
    /// Receiving on the stream failed after bytes came back.
    #[error("receiving from the tunnel: {0}")]
    Read(ReadError),
}

/// When a relay stops early, and whom it tells about its first answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ends {
    /// Close after this long without a byte either way (none: no limit).
    pub idle: Option<Duration>,
    /// Fires when the gateway stops: reset the stream and end.
    pub shutdown: CancellationToken,
    /// Cancelled by the relay when the first byte comes back from the
    /// tunnel client (a liveness watch can stop then).
    pub answered: CancellationToken,
}

/// What both directions share.
struct Shared<'a> {
    counters: [&'a dyn CountBytes; 2],
    answered: &'a CancellationToken,
    clock: IdleClock,
    to_tunnel: AtomicU64,
    to_client: AtomicU64,
}

impl Shared<'_> {
    fn sent(&self, n: usize) {
        let n = n as u64;
        self.to_tunnel.fetch_add(n, Ordering::Relaxed);
        for counter in self.counters {
            counter.add_to_backend(n);
        }
        self.clock.touch();
    }

    fn received(&self, n: usize) {
        let n = n as u64;
        self.to_client.fetch_add(n, Ordering::Relaxed);
        self.answered.cancel();
        for counter in self.counters {
            counter.add_to_client(n);
        }
        self.clock.touch();
    }

    /// A link failure: undelivered while nothing came back yet.
    fn link_error(&self, detail: String, after: RelayError) -> RelayError {
        if self.to_client.load(Ordering::Relaxed) == 0 {
            RelayError::Undelivered(detail)
        } else {
            after
        }
    }
}

/// TCP client → stream, `prefix` first.
async fn to_tunnel(
    from: &mut ReadHalf<'_>,
    send: &mut SendStream,
    prefix: &[u8],
    shared: &Shared<'_>,
) -> Result<(), RelayError> {
    let write_error = |err: WriteError| shared.link_error(err.to_string(), RelayError::Write(err));
    if !prefix.is_empty() {
        send.write_all(prefix).await.map_err(write_error)?;
        shared.sent(prefix.len());
    }
    let mut chunks = ChunkReader::new(FORWARD_BUFFER);
    loop {
        let Some(chunk) = chunks.next(from).await? else {
            // Only fails if the stream is already finished or reset.
            let _ = send.finish();
            return Ok(());
        };
        let n = chunk.len();
        send.write_chunk(chunk).await.map_err(write_error)?;
        shared.sent(n);
    }
}

/// Stream → TCP client.
async fn to_client(
    recv: &mut RecvStream,
    to: &mut WriteHalf<'_>,
    shared: &Shared<'_>,
) -> Result<(), RelayError> {
    loop {
        match recv.read_chunk(FORWARD_BUFFER, true).await {
            Ok(Some(chunk)) => {
                to.write_all(&chunk.bytes).await?;
                shared.received(chunk.bytes.len());
            }
            Ok(None) => {
                // A client that already went away cannot be told; that is
                // no reason to cut the other direction short.
                let _ = to.shutdown().await;
                return Ok(());
            }
            Err(err) => return Err(shared.link_error(err.to_string(), RelayError::Read(err))),
        }
    }
}

/// Relays between `client` and the stream (send and receive halves) after writing
/// `prefix` to the stream. Ends when both directions are done, on the
/// first error (the stream is then reset), after the idle timeout, or at
/// shutdown (see [`Ends`]). `client` is borrowed so the caller can still
/// answer it after [`RelayError::Undelivered`]. Bytes are counted by both
/// `counters` (the listener's and the tunnel session's).
pub(crate) async fn relay(
    client: &mut TcpStream,
    (mut send, mut recv): (SendStream, RecvStream),
    prefix: &[u8],
    ends: &Ends,
    counters: [&dyn CountBytes; 2],
) -> Result<Totals, RelayError> {
    let (idle, cancel) = (ends.idle, &ends.shutdown);
    let shared = Shared {
        counters,
        answered: &ends.answered,
        clock: IdleClock::new(),
        to_tunnel: AtomicU64::new(0),
        to_client: AtomicU64::new(0),
    };
    let (mut read_half, mut write_half) = client.split();
    let outcome = {
        let work = async {
            tokio::try_join!(
                to_tunnel(&mut read_half, &mut send, prefix, &shared),
                to_client(&mut recv, &mut write_half, &shared),
            )
            .map(|_| ())
        };
        tokio::select! {
            result = work => result.map(|()| End::Done),
            () = shared.clock.expired(idle) => Ok(End::Idle),
            () = cancel.cancelled() => Ok(End::Shutdown),
        }
    };
    if !matches!(outcome, Ok(End::Done)) {
        // Tell the tunnel client this connection is over; both fail only
        // if the stream is already closed that way.
        let code = codes::varint(codes::STREAM_ABORTED);
        let _ = send.reset(code);
        let _ = recv.stop(code);
    }
    let end = outcome?;
    Ok(Totals {
        to_backend: shared.to_tunnel.load(Ordering::Relaxed),
        to_client: shared.to_client.load(Ordering::Relaxed),
        end,
    })
}
