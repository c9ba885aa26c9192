//! Copies a forwarded connection both ways between its link stream and the
//! local service, carrying half-closes (QUIC finish ↔ TCP shutdown of the
//! write side) and counting bytes. Bytes move without a user-space copy
//! of their own (owned chunks into the stream's send buffer, received
//! chunks written from where quinn decrypted them), and a direction holds
//! a buffer only while bytes flow.

use portico_link::ChunkReader;
use quinn::{ClosedStream, ReadError, RecvStream, SendStream, WriteError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Bytes relayed on one forwarded connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Transferred {
    /// From the gateway (the remote client) to the local service.
    pub to_service: u64,
    /// From the local service back to the gateway.
    pub from_service: u64,
}

/// Why a relay stopped before both directions finished.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    /// Reading from the link stream failed (e.g. the gateway reset it
    /// because the remote client went away, or the session was lost).
    #[error("link stream read: {0}")]
    LinkRead(#[from] ReadError),
    /// Writing to the link stream failed (e.g. the gateway stopped it).
    #[error("link stream write: {0}")]
    LinkWrite(#[from] WriteError),
    /// The link stream was already finished or reset.
    #[error("link stream closed: {0}")]
    LinkClosed(#[from] ClosedStream),
    /// Reading from the local service failed.
    #[error("local service read: {0}")]
    LocalRead(std::io::Error),
    /// Writing to the local service failed.
    #[error("local service write: {0}")]
    LocalWrite(std::io::Error),
}

/// Relays between the link stream (`send`, `recv`) and `local` until both
/// directions have finished, reading at most `buffer` bytes at a time
/// (the service's reads go into blocks of that size, see [`ChunkReader`]).
///
/// On error the caller resets the link stream; dropping `local` closes the
/// local connection. `transferred` is updated as bytes go through, so it is
/// accurate on error too.
pub(crate) async fn relay<S>(
    send: &mut SendStream,
    recv: &mut RecvStream,
    local: S,
    buffer: usize,
    transferred: &mut Transferred,
) -> Result<(), RelayError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let buffer = buffer.max(1);
    let (local_read, local_write) = tokio::io::split(local);
    let Transferred {
        to_service,
        from_service,
    } = transferred;
    tokio::try_join!(
        link_to_local(recv, local_write, buffer, to_service),
        local_to_link(local_read, send, buffer, from_service),
    )?;
    Ok(())
}

/// Gateway → service; the gateway's finish becomes a shutdown of the local
/// write side.
async fn link_to_local<W>(
    recv: &mut RecvStream,
    mut local: W,
    buffer: usize,
    count: &mut u64,
) -> Result<(), RelayError>
where
    W: AsyncWrite + Unpin,
{
    while let Some(chunk) = recv.read_chunk(buffer, true).await? {
        local
            .write_all(&chunk.bytes)
            .await
            .map_err(RelayError::LocalWrite)?;
        *count = count.saturating_add(len_u64(chunk.bytes.len()));
    }
    local.shutdown().await.map_err(RelayError::LocalWrite)
}

/// Service → gateway; the service's end of stream becomes a finish.
async fn local_to_link<R>(
    mut local: R,
    send: &mut SendStream,
    buffer: usize,
    count: &mut u64,
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin,
{
    let mut chunks = ChunkReader::new(buffer);
    loop {
        let chunk = chunks
            .next(&mut local)
            .await
            .map_err(RelayError::LocalRead)?;
        let Some(chunk) = chunk else {
            send.finish()?;
            return Ok(());
        };
        let read = chunk.len();
        send.write_chunk(chunk).await?;
        *count = count.saturating_add(len_u64(read));
    }
}

/// A buffer length as a byte count.
fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}
