//! The SOCKS5 exchange after the greeting: pick a method (username/password
//! when users are configured and the client offers it, else no
//! authentication, else `0xFF`), check the credentials (RFC 1929: `01 00`
//! or `01 01` and close), then read the CONNECT request (RFC 1928).
//!
//! Bounded: the whole exchange shares one deadline of the listener's
//! `peek_timeout`, and each message is read into a buffer capped at the
//! largest valid message ([`AUTH_MAX`], [`REQUEST_MAX`]).

use portico_sniff::socks5::{
    NO_ACCEPTABLE, NO_AUTH, Socks5Error, USER_PASSWORD, auth_reply, method_selection, parse_auth,
    parse_request,
};
use portico_sniff::{Protocol, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Ask;
use super::reply::failed;
use super::users::{Identity, Users};
use crate::accept::Peeked;
use crate::metrics::Outcome;
use crate::refuse::{ANSWER_WRITE_TIMEOUT, Reason, Refusal, Scope, send_and_close};

/// The longest RFC 1929 message: version, two lengths, 255 + 255 bytes.
pub(crate) const AUTH_MAX: usize = 1 + 1 + 255 + 1 + 255;
/// The longest RFC 1928 request: header, a 255-byte name, the port.
pub(crate) const REQUEST_MAX: usize = 4 + 1 + 255 + 2;

/// Why the exchange stopped.
enum Stop {
    /// The client closed or the deadline passed.
    Gone(Reason),
    /// A message did not parse.
    Bad(Socks5Error),
}

/// Reads from `stream` into `buf` (which may already hold bytes) until
/// `parse` completes, fails, `cap` bytes are buffered, or `deadline`.
async fn read_message<T>(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    cap: usize,
    deadline: Instant,
    parse: impl Fn(&[u8]) -> Result<Status<(T, usize)>, Socks5Error>,
) -> Result<T, Stop> {
    loop {
        match parse(buf) {
            Ok(Status::Complete((message, used))) => {
                buf.drain(..used.min(buf.len()));
                return Ok(message);
            }
            Err(err) => return Err(Stop::Bad(err)),
            Ok(Status::Partial) if buf.len() >= cap => return Err(Stop::Gone(Reason::TooLarge)),
            Ok(Status::Partial) => {}
        }
        let room = cap - buf.len();
        let mut limited = (&mut *stream).take(room as u64);
        match tokio::time::timeout_at(deadline, limited.read_buf(buf)).await {
            Err(_) => return Err(Stop::Gone(Reason::Timeout)),
            Ok(Ok(0) | Err(_)) => return Err(Stop::Gone(Reason::Timeout)),
            Ok(Ok(_)) => {}
        }
    }
}

/// Writes `bytes` under the answer timeout.
async fn write(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(ANSWER_WRITE_TIMEOUT, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// Runs the exchange for a sniffed greeting; see the module docs.
pub(super) async fn negotiate(
    stream: &mut TcpStream,
    peeked: &mut Peeked,
    users: &Users,
    scope: Scope<'_>,
) -> Result<Ask, ()> {
    let deadline = Instant::now() + scope.settings.peek_timeout;
    let greeting = peeked.detection.socks5.unwrap_or_default();
    let client = peeked.client;
    let end = |reason, detail: &str| {
        let refusal = Refusal {
            client,
            protocol: Some(Protocol::Socks5),
            host: None,
            reason,
            detail,
        };
        scope
            .refusals
            .record(scope.listener, &refusal, Outcome::Refused);
    };
    // What the client sent after its greeting.
    let mut buf = peeked
        .buf
        .get(peeked.detection.consume..)
        .unwrap_or_default()
        .to_vec();

    let method = if greeting.user_password && users.any() {
        USER_PASSWORD
    } else if greeting.no_auth {
        NO_AUTH
    } else {
        NO_ACCEPTABLE
    };
    if method == NO_ACCEPTABLE {
        end(Reason::AuthRequired, "no acceptable authentication method");
        send_and_close(stream, Some(&method_selection(NO_ACCEPTABLE))).await;
        return Err(());
    }
    if !write(stream, &method_selection(method)).await {
        end(Reason::Timeout, "client gone during the SOCKS5 greeting");
        return Err(());
    }

    let identity = if method == USER_PASSWORD {
        let credentials = match read_message(stream, &mut buf, AUTH_MAX, deadline, parse_auth).await
        {
            Ok(credentials) => credentials,
            Err(stop) => {
                fail(stream, stop, None, end).await;
                return Err(());
            }
        };
        let identity = users.login(client.ip(), &credentials);
        if let Identity::Rejected(why) = &identity {
            end(Reason::AuthRequired, why.as_str());
            send_and_close(stream, Some(&auth_reply(false))).await;
            return Err(());
        }
        if !write(stream, &auth_reply(true)).await {
            end(Reason::Timeout, "client gone during SOCKS5 authentication");
            return Err(());
        }
        identity
    } else {
        Identity::Anonymous
    };

    match read_message(stream, &mut buf, REQUEST_MAX, deadline, parse_request).await {
        Ok(request) => {
            peeked.buf = buf;
            peeked.detection.consume = 0;
            peeked.detection.host = Some(request.target.to_hostname());
            peeked.detection.port = Some(request.port);
            Ok(Ask {
                target: request.target,
                port: request.port,
                identity,
            })
        }
        Err(stop) => {
            let code = match &stop {
                Stop::Bad(err) => err.reply_code(),
                Stop::Gone(_) => None,
            };
            fail(stream, stop, code, end).await;
            Err(())
        }
    }
}

/// Ends an exchange that stopped: counts it, answers `code` if any, closes.
async fn fail(stream: &mut TcpStream, stop: Stop, code: Option<u8>, end: impl Fn(Reason, &str)) {
    match stop {
        Stop::Gone(reason) => end(reason, "SOCKS5 exchange did not complete"),
        Stop::Bad(err) => end(Reason::Malformed, &err.to_string()),
    }
    let answer = code.map(failed);
    send_and_close(stream, answer.as_deref()).await;
}
