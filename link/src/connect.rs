//! The tunnel client's side of the session handshake: dial the gateway,
//! verify its certificate, send the Hello and read Welcome or Refuse.

use std::net::SocketAddr;

use quinn::{ConnectionError, Endpoint, ReadExactError, WriteError};
use tokio::time::timeout;

use crate::codes;
use crate::control::{ControlError, ControlMessage, Hello};
use crate::refuse::RefuseReason;
use crate::session::{self, ReadControlError, Session, WriteControlError};
use crate::settings::LinkSettings;

/// Why no session could be established with the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connection could not be started (e.g. an invalid server name,
    /// an endpoint without a client configuration).
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The QUIC/TLS handshake did not finish within the handshake timeout.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The handshake failed (this includes a gateway certificate that does
    /// not verify) or the connection was lost.
    #[error("connection failed: {0}")]
    Connection(#[from] ConnectionError),
    /// No answer to the Hello within the hello timeout.
    #[error("no answer to hello within the hello timeout")]
    HelloTimeout,
    /// The Hello could not be sent.
    #[error("sending hello: {0}")]
    Write(WriteError),
    /// The control stream failed or ended before a whole answer arrived.
    #[error("reading the gateway's answer: {0}")]
    Read(ReadExactError),
    /// The Hello breaks a cap, or the gateway's answer is malformed.
    #[error("control message: {0}")]
    Protocol(ControlError),
    /// The gateway answered with something other than Welcome or Refuse.
    #[error("unexpected answer to hello")]
    UnexpectedMessage,
    /// The gateway refused the session.
    #[error("refused by the gateway: {0}")]
    Refused(RefuseReason),
}

/// TLS alerts (RFC 8446 §6.2) the tunnel client raises when it does not
/// accept the gateway's certificate: bad_certificate, unsupported_certificate,
/// certificate_revoked, certificate_expired, certificate_unknown,
/// unknown_ca, decrypt_error (a handshake signature that does not verify).
const CERTIFICATE_ALERTS: [u8; 7] = [42, 43, 44, 45, 46, 48, 51];

impl ConnectError {
    /// Whether this side refused the gateway's certificate (it does not
    /// verify against the configured `ca` or system roots).
    pub fn is_certificate_rejected(&self) -> bool {
        let ConnectError::Connection(ConnectionError::TransportError(err)) = self else {
            return false;
        };
        CERTIFICATE_ALERTS
            .iter()
            .any(|alert| err.code == quinn::TransportErrorCode::crypto(*alert))
    }
}

/// Dials the gateway at `server_addr`, verifying its certificate for
/// `server_name`, and runs the client's side of the session handshake.
///
/// `endpoint` must carry a default client configuration (see
/// [`crate::client_endpoint`]).
pub async fn connect_session(
    endpoint: &Endpoint,
    server_addr: SocketAddr,
    server_name: &str,
    hello: Hello,
    settings: &LinkSettings,
) -> Result<Session, ConnectError> {
    let connecting = endpoint.connect(server_addr, server_name)?;
    let conn = timeout(settings.handshake_timeout, connecting)
        .await
        .map_err(|_| ConnectError::HandshakeTimeout)??;
    let answer = timeout(settings.hello_timeout, async {
        let (mut send, mut recv) = conn.open_bi().await?;
        let request = ControlMessage::Hello(hello.clone());
        session::write_control(&mut send, &request)
            .await
            .map_err(|err| match err {
                WriteControlError::Invalid(err) => ConnectError::Protocol(err),
                WriteControlError::Write(err) => ConnectError::Write(err),
            })?;
        session::read_control(&mut recv)
            .await
            .map_err(|err| match err {
                ReadControlError::Invalid(err) => ConnectError::Protocol(err),
                ReadControlError::Read(err) => ConnectError::Read(err),
            })
    })
    .await;
    let answer = match answer {
        Ok(answer) => answer.map_err(refusal_or),
        Err(_) => Err(ConnectError::HelloTimeout),
    };
    match answer {
        Ok(ControlMessage::Welcome { session_id }) => Ok(Session {
            datagrams: crate::flows::FlowDatagrams::start(conn.clone()),
            connection: conn,
            id: session_id,
            name: hello.name,
            settings: *settings,
        }),
        Ok(ControlMessage::Refuse { reason }) => Err(ConnectError::Refused(reason)),
        Ok(ControlMessage::Hello(_)) => {
            conn.close(codes::varint(codes::CLOSE_PROTOCOL_ERROR), b"");
            Err(ConnectError::UnexpectedMessage)
        }
        Err(err) => {
            let code = match err {
                ConnectError::HelloTimeout => codes::CLOSE_HELLO_TIMEOUT,
                _ => codes::CLOSE_PROTOCOL_ERROR,
            };
            conn.close(codes::varint(code), b"");
            Err(err)
        }
    }
}

/// The refusal behind a lost connection, when the gateway closed it with a
/// refusal code before its Refuse message could be read; else `err`.
fn refusal_or(err: ConnectError) -> ConnectError {
    let lost = match &err {
        ConnectError::Connection(lost) => Some(lost),
        ConnectError::Read(err) => session::read_connection_error(err),
        ConnectError::Write(err) => session::write_connection_error(err),
        _ => None,
    };
    match lost.and_then(session::refusal_of) {
        Some(reason) => ConnectError::Refused(reason),
        None => err,
    }
}
