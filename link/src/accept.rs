//! The gateway's side of the session handshake: complete the QUIC
//! handshake, read the client's Hello, authenticate it, answer Welcome or
//! Refuse, and close refused connections with the reason's code.

use std::time::{Duration, Instant};

use quinn::{Connection, ConnectionError, Incoming, ReadExactError, SendStream, WriteError};
use tokio::time::timeout;

use crate::auth::FailureLimiter;
use crate::codes;
use crate::control::{ControlError, ControlMessage, Hello};
use crate::refuse::RefuseReason;
use crate::session::{self, ReadControlError, Session, WriteControlError};
use crate::settings::LinkSettings;

/// How long the gateway waits, after sending a Refuse, for the client to
/// acknowledge it before closing the connection (closing at once could
/// discard the message). The client also learns the reason from the close
/// code.
pub(crate) const REFUSE_LINGER: Duration = Duration::from_secs(1);

/// Why no session came out of an incoming connection.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The QUIC/TLS handshake did not finish within the handshake timeout.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The connection failed or was closed by the client.
    #[error("connection lost: {0}")]
    Connection(#[from] ConnectionError),
    /// No Hello arrived within the hello timeout.
    #[error("no hello within the hello timeout")]
    HelloTimeout,
    /// The control stream failed or ended before a whole Hello arrived.
    #[error("reading hello: {0}")]
    Read(ReadExactError),
    /// The Welcome could not be sent.
    #[error("sending welcome: {0}")]
    Write(WriteError),
    /// The client sent a malformed control message.
    #[error("malformed hello: {0}")]
    Protocol(ControlError),
    /// The client sent something other than a Hello.
    #[error("expected a hello")]
    UnexpectedMessage,
    /// The gateway refused the client (and closed the connection).
    #[error("refused tunnel {name:?}: {reason}")]
    Refused {
        /// The name the client gave, when its Hello was readable.
        name: Option<String>,
        /// Why.
        reason: RefuseReason,
    },
}

/// Completes the handshake of an incoming connection within the
/// handshake timeout.
pub async fn accept_connection(
    incoming: Incoming,
    settings: &LinkSettings,
) -> Result<Connection, AcceptError> {
    let connecting = incoming.accept()?;
    match timeout(settings.handshake_timeout, connecting).await {
        Ok(connection) => Ok(connection?),
        Err(_) => Err(AcceptError::HandshakeTimeout),
    }
}

/// Runs the gateway's side of the session handshake on `conn`.
///
/// `authenticate(name, token)` is the gateway's decision (use
/// [`crate::tokens_equal`] for the token). Sources blocked by `limiter` are
/// refused with [`RefuseReason::RateLimited`] without calling it; refusals
/// for an unknown name or a bad token, malformed Hellos and Hello timeouts
/// count as failures. On any error the connection is closed with a code
/// from [`codes`].
pub async fn accept_session(
    conn: Connection,
    settings: &LinkSettings,
    limiter: &FailureLimiter,
    authenticate: impl FnOnce(&str, &[u8]) -> Result<(), RefuseReason>,
) -> Result<Session, AcceptError> {
    let source = conn.remote_address().ip();
    let received = timeout(settings.hello_timeout, async {
        let (send, mut recv) = conn.accept_bi().await?;
        let message = session::read_control(&mut recv).await;
        Ok::<_, AcceptError>((send, message))
    })
    .await;
    let (mut send, message) = match received {
        Ok(Ok(received)) => received,
        Ok(Err(err)) => return Err(err),
        Err(_) => {
            limiter.record_failure(source, Instant::now());
            close(&conn, codes::CLOSE_HELLO_TIMEOUT);
            return Err(AcceptError::HelloTimeout);
        }
    };
    let hello = match message {
        Ok(ControlMessage::Hello(hello)) => hello,
        Ok(_) => {
            limiter.record_failure(source, Instant::now());
            close(&conn, codes::CLOSE_PROTOCOL_ERROR);
            return Err(AcceptError::UnexpectedMessage);
        }
        Err(ReadControlError::Invalid(ControlError::UnknownVersion(_))) => {
            return Err(refuse(&conn, send, None, RefuseReason::UnsupportedVersion).await);
        }
        Err(ReadControlError::Invalid(err)) => {
            limiter.record_failure(source, Instant::now());
            close(&conn, codes::CLOSE_PROTOCOL_ERROR);
            return Err(AcceptError::Protocol(err));
        }
        Err(ReadControlError::Read(err)) => {
            limiter.record_failure(source, Instant::now());
            close(&conn, codes::CLOSE_PROTOCOL_ERROR);
            return Err(AcceptError::Read(err));
        }
    };
    let Hello { name, token, .. } = hello;
    if limiter.is_blocked(source, Instant::now()) {
        return Err(refuse(&conn, send, Some(name), RefuseReason::RateLimited).await);
    }
    if let Err(reason) = authenticate(&name, &token) {
        limiter.record_failure(source, Instant::now());
        return Err(refuse(&conn, send, Some(name), reason).await);
    }
    limiter.record_success(source);
    let id = session::next_session_id();
    let welcome = ControlMessage::Welcome { session_id: id };
    if let Err(err) = session::write_control(&mut send, &welcome).await {
        close(&conn, codes::CLOSE_PROTOCOL_ERROR);
        return Err(match err {
            WriteControlError::Write(err) => AcceptError::Write(err),
            WriteControlError::Invalid(err) => AcceptError::Protocol(err),
        });
    }
    Ok(Session {
        datagrams: crate::flows::FlowDatagrams::start(conn.clone()),
        connection: conn,
        id,
        name,
        settings: *settings,
    })
}

/// Sends a Refuse, waits up to [`REFUSE_LINGER`] for it to be
/// acknowledged, and closes the connection with the reason's code.
async fn refuse(
    conn: &Connection,
    mut send: SendStream,
    name: Option<String>,
    reason: RefuseReason,
) -> AcceptError {
    let message = ControlMessage::Refuse { reason };
    if session::write_control(&mut send, &message).await.is_ok() {
        // Either outcome (acknowledged, stopped, lost, timed out) ends the
        // wait; the close below carries the reason regardless.
        let _ = timeout(REFUSE_LINGER, send.stopped()).await;
    }
    close(conn, reason.close_code());
    AcceptError::Refused { name, reason }
}

/// Closes `conn` with `code`.
fn close(conn: &Connection, code: u32) {
    conn.close(codes::varint(code), b"");
}
