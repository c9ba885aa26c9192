//! Forwarded-connection streams: the gateway opens one bidirectional stream
//! per connection and writes the [`StreamHeader`] first; the tunnel client
//! accepts it and reads the header under a timeout and the header cap.
//! After the header, bytes flow unchanged both ways; `finish` carries a
//! half-close and `reset`/`stop` with a [`crate::codes`] value an abort.

use bytes::Buf;
use quinn::{
    Connection, ConnectionError, ReadError, ReadExactError, RecvStream, SendStream, WriteError,
};
use tokio::time::timeout;

use crate::codes;
use crate::header::{HEADER_PREFIX_LEN, HeaderError, StreamHeader};
use crate::settings::LinkSettings;

/// Why a forwarded-connection stream could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The session's connection is gone.
    #[error("connection lost: {0}")]
    Connection(#[from] ConnectionError),
    /// No stream credit (or send window) within the open timeout.
    #[error("opening a stream timed out")]
    OpenTimeout,
    /// The header did not arrive within the header timeout.
    #[error("stream header timed out")]
    HeaderTimeout,
    /// The header is malformed or over the cap.
    #[error("bad stream header: {0}")]
    Header(#[from] HeaderError),
    /// The stream failed or ended before the whole header arrived.
    #[error("reading stream header: {0}")]
    Read(ReadExactError),
    /// The header could not be written.
    #[error("writing stream header: {0}")]
    Write(WriteError),
}

impl StreamError {
    /// Whether the whole session is gone (rather than just this stream):
    /// the caller should stop using the connection.
    pub fn is_session_lost(&self) -> bool {
        matches!(
            self,
            StreamError::Connection(_)
                | StreamError::Read(ReadExactError::ReadError(ReadError::ConnectionLost(_)))
                | StreamError::Write(WriteError::ConnectionLost(_))
        )
    }
}

/// Gateway side: opens a stream and writes `header`, both within the open
/// timeout. The caller then writes the bytes already read from the client.
pub(crate) async fn open_stream(
    conn: &Connection,
    header: &StreamHeader,
    settings: &LinkSettings,
) -> Result<(SendStream, RecvStream), StreamError> {
    let mut frame = Vec::with_capacity(header.encoded_len());
    header.encode(&mut frame);
    let opened = timeout(settings.open_timeout, async {
        let (mut send, recv) = conn.open_bi().await?;
        send.write_all(&frame).await.map_err(StreamError::Write)?;
        Ok::<_, StreamError>((send, recv))
    })
    .await;
    opened.map_err(|_| StreamError::OpenTimeout)?
}

/// Client side: waits for the gateway's next stream and reads its header.
///
/// Waiting for a stream has no timeout (a quiet session is normal); reading
/// the header does. A stream whose header fails is reset and stopped with
/// [`codes::STREAM_BAD_HEADER`]; check [`StreamError::is_session_lost`] to
/// tell that from the end of the session. To keep a slow header from
/// delaying later streams, accept with [`quinn::Connection::accept_bi`] and
/// call [`read_header`] in a task per stream instead.
///
/// Cancel safety: cancelling while waiting for a stream loses nothing;
/// cancelling while a header is being read drops that stream.
pub(crate) async fn accept_stream(
    conn: &Connection,
    settings: &LinkSettings,
) -> Result<(StreamHeader, SendStream, RecvStream), StreamError> {
    let (mut send, mut recv) = conn.accept_bi().await?;
    match read_header(&mut recv, settings).await {
        Ok(header) => Ok((header, send, recv)),
        Err(err) => {
            let code = codes::varint(codes::STREAM_BAD_HEADER);
            // Both fail only if the stream is already closed, which is fine.
            let _ = send.reset(code);
            let _ = recv.stop(code);
            Err(err)
        }
    }
}

/// Reads exactly one stream header from `recv` within the header timeout,
/// never reading past it, so every later byte is the client's.
pub async fn read_header(
    recv: &mut RecvStream,
    settings: &LinkSettings,
) -> Result<StreamHeader, StreamError> {
    let read = timeout(settings.header_timeout, async {
        let mut prefix = [0u8; HEADER_PREFIX_LEN];
        recv.read_exact(&mut prefix)
            .await
            .map_err(StreamError::Read)?;
        let frame_len = StreamHeader::frame_len(prefix)?;
        let mut body = vec![0u8; frame_len.saturating_sub(HEADER_PREFIX_LEN)];
        recv.read_exact(&mut body)
            .await
            .map_err(StreamError::Read)?;
        let mut frame = prefix.as_slice().chain(body.as_slice());
        // The frame is complete by construction, so `None` cannot happen.
        StreamHeader::decode(&mut frame)?.ok_or(StreamError::Header(HeaderError::Truncated))
    })
    .await;
    read.map_err(|_| StreamError::HeaderTimeout)?
}
