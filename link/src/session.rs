//! An established link session and the control-stream I/O both handshakes
//! share: reading one length-prefixed message with its cap, writing one.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Buf;
use quinn::{
    Connection, ConnectionError, ReadError, ReadExactError, RecvStream, SendStream, WriteError,
};

use crate::codes;
use crate::control::{CONTROL_PREFIX_LEN, ControlError, ControlMessage};
use crate::header::StreamHeader;
use crate::refuse::RefuseReason;
use crate::settings::LinkSettings;
use crate::stream::{self, StreamError};

/// A live, authenticated link between the gateway and one tunnel client.
#[derive(Debug, Clone)]
pub struct Session {
    /// The QUIC connection.
    pub connection: Connection,
    /// The gateway's id for the session (unique within one gateway run).
    pub id: u64,
    /// The tunnel name the client authenticated as.
    pub name: String,
    /// The settings the session was set up with.
    pub settings: LinkSettings,
    /// Its UDP flows' QUIC datagrams (RFC 9221).
    pub datagrams: crate::flows::FlowDatagrams,
}

impl Session {
    /// Gateway side: opens a stream for a forwarded connection and writes
    /// its header (see `stream::open_stream`).
    pub async fn open_stream(
        &self,
        header: &StreamHeader,
    ) -> Result<(SendStream, RecvStream), StreamError> {
        stream::open_stream(&self.connection, header, &self.settings).await
    }

    /// Client side: waits for the next forwarded connection and reads its
    /// header (see `stream::accept_stream`).
    pub async fn accept_stream(
        &self,
    ) -> Result<(StreamHeader, SendStream, RecvStream), StreamError> {
        stream::accept_stream(&self.connection, &self.settings).await
    }

    /// Closes the session normally ([`codes::CLOSE_NORMAL`]).
    pub fn close(&self) {
        self.connection
            .close(codes::varint(codes::CLOSE_NORMAL), b"closing");
    }
}

/// The source of session ids.
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// A session id not handed out before in this process.
pub(crate) fn next_session_id() -> u64 {
    NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed)
}

/// Why a control message could not be read.
#[derive(Debug)]
pub(crate) enum ReadControlError {
    /// The stream failed or ended early.
    Read(ReadExactError),
    /// The bytes are not a valid message.
    Invalid(ControlError),
}

/// Reads exactly one control message: prefix, length check, body.
pub(crate) async fn read_control(
    recv: &mut RecvStream,
) -> Result<ControlMessage, ReadControlError> {
    let mut prefix = [0u8; CONTROL_PREFIX_LEN];
    recv.read_exact(&mut prefix)
        .await
        .map_err(ReadControlError::Read)?;
    let frame_len = ControlMessage::frame_len(prefix).map_err(ReadControlError::Invalid)?;
    let mut body = vec![0u8; frame_len.saturating_sub(CONTROL_PREFIX_LEN)];
    recv.read_exact(&mut body)
        .await
        .map_err(ReadControlError::Read)?;
    let mut frame = prefix.as_slice().chain(body.as_slice());
    match ControlMessage::decode(&mut frame) {
        Ok(Some(message)) => Ok(message),
        // Cannot happen: the frame is complete by construction.
        Ok(None) => Err(ReadControlError::Invalid(ControlError::Truncated)),
        Err(err) => Err(ReadControlError::Invalid(err)),
    }
}

/// Writes one control message and finishes the stream.
pub(crate) async fn write_control(
    send: &mut SendStream,
    message: &ControlMessage,
) -> Result<(), WriteControlError> {
    let mut frame = Vec::new();
    message
        .encode(&mut frame)
        .map_err(WriteControlError::Invalid)?;
    send.write_all(&frame)
        .await
        .map_err(WriteControlError::Write)?;
    // Finishing twice is the only failure, and this is the first time.
    let _ = send.finish();
    Ok(())
}

/// Why a control message could not be written.
#[derive(Debug)]
pub(crate) enum WriteControlError {
    /// The message breaks a cap.
    Invalid(ControlError),
    /// The stream failed.
    Write(WriteError),
}

/// The refusal a connection error stands for, if the gateway closed the
/// connection with a refusal code.
pub(crate) fn refusal_of(err: &ConnectionError) -> Option<RefuseReason> {
    match err {
        ConnectionError::ApplicationClosed(close) => {
            RefuseReason::from_close_code(close.error_code.into_inner())
        }
        _ => None,
    }
}

/// The connection error behind a read error, if the connection was lost.
pub(crate) fn read_connection_error(err: &ReadExactError) -> Option<&ConnectionError> {
    match err {
        ReadExactError::ReadError(ReadError::ConnectionLost(lost)) => Some(lost),
        _ => None,
    }
}

/// The connection error behind a write error, if the connection was lost.
pub(crate) fn write_connection_error(err: &WriteError) -> Option<&ConnectionError> {
    match err {
        WriteError::ConnectionLost(lost) => Some(lost),
        _ => None,
    }
}
