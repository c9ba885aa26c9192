//! Protocol-correct answers to connections the gateway will not forward, and
//! the bounded write-then-close that delivers them.
//!
//! HTTP gets a status line with a short text body, TLS a fatal alert record,
//! XMPP a stream header followed by a stream error; a dial line or bytes of
//! no known protocol are simply closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portico_sniff::Protocol;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::accept::LimitExceeded;

/// How long writing an answer may take before the connection is dropped.
pub(crate) const ANSWER_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to read (and discard) client input after answering, so the kernel
/// does not reset the connection before the client reads the answer.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The most client input discarded after answering.
pub(crate) const DRAIN_MAX: usize = 64 * 1024;

/// Why a connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No route serves the name for this protocol.
    NoRoute,
    /// The backend (or tunnel) could not be reached.
    Unreachable,
    /// Nothing was decided by the listener's `peek_timeout`.
    Timeout,
    /// The protocol's bytes are malformed.
    Malformed,
    /// The protocol's header exceeds its cap.
    TooLarge,
    /// No enabled protocol matches the bytes.
    NoMatch,
    /// A trusted balancer's connection did not start with a PROXY header.
    ProxyRequired,
    /// An untrusted client sent a PROXY header.
    ProxyForbidden,
    /// The client needed too many reads to say what it wants.
    Fragmented,
    /// A connection cap was full at accept (closed without an answer).
    Limit(LimitExceeded),
    /// The gateway's own TLS handshake (`terminate_tls`) did not complete
    /// (nothing left to answer in).
    TlsHandshake,
    /// The backend refused the connection (nothing listens there).
    BackendRefused,
    /// The route's `allow`/`deny` refuse the client's address, or it asked
    /// for a port or IP literal the route does not admit.
    Denied,
    /// A proxy client without the credentials of a user the route admits,
    /// or with wrong ones.
    AuthRequired,
}

impl Reason {
    /// The label used in logs and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::NoRoute => "no_route",
            Reason::Unreachable => "backend_unreachable",
            Reason::Timeout => "timeout",
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::NoMatch => "no_match",
            Reason::ProxyRequired => "proxy_required",
            Reason::ProxyForbidden => "proxy_forbidden",
            Reason::Fragmented => "fragmented",
            Reason::Limit(exceeded) => exceeded.as_str(),
            Reason::TlsHandshake => "tls_handshake",
            Reason::BackendRefused => "backend_refused",
            Reason::Denied => "denied",
            Reason::AuthRequired => "auth_required",
        }
    }
}

/// What is known of an XMPP client, to address the answer stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct XmppHints {
    /// The client opened a `jabber:server` stream.
    pub server: bool,
    /// The `to` of its stream header, if known.
    pub to: Option<String>,
}

impl XmppHints {
    /// Guesses the stream namespace from the bytes read so far.
    pub(crate) fn from_bytes(buf: &[u8], to: Option<String>) -> XmppHints {
        let server = buf
            .windows(b"jabber:server".len())
            .any(|w| w == b"jabber:server");
        XmppHints { server, to }
    }
}

/// The bytes to send for `reason` over `protocol`; `None`: just close.
pub(crate) fn answer(
    protocol: Option<Protocol>,
    reason: Reason,
    xmpp: &XmppHints,
) -> Option<Vec<u8>> {
    match protocol? {
        Protocol::Http => {
            let (status, text) = match reason {
                Reason::NoRoute => ("421 Misdirected Request", "no route for this host"),
                Reason::Unreachable | Reason::BackendRefused => {
                    ("502 Bad Gateway", "the backend is unreachable")
                }
                Reason::Denied | Reason::AuthRequired => ("403 Forbidden", "access denied"),
                Reason::Timeout => ("408 Request Timeout", "the request did not arrive in time"),
                Reason::TooLarge => (
                    "431 Request Header Fields Too Large",
                    "request header too large",
                ),
                Reason::Malformed => ("400 Bad Request", "malformed request"),
                Reason::NoMatch
                | Reason::ProxyRequired
                | Reason::ProxyForbidden
                | Reason::Fragmented
                | Reason::Limit(_)
                | Reason::TlsHandshake => return None,
            };
            Some(http_response(status, text))
        }
        Protocol::Tls => {
            let description = match reason {
                Reason::NoRoute => 112,
                Reason::Unreachable | Reason::BackendRefused => 80,
                Reason::Denied | Reason::AuthRequired => 49,
                Reason::Malformed | Reason::TooLarge => 50,
                Reason::Timeout
                | Reason::NoMatch
                | Reason::ProxyRequired
                | Reason::ProxyForbidden
                | Reason::Fragmented
                | Reason::Limit(_)
                | Reason::TlsHandshake => {
                    return None;
                }
            };
            Some(tls_alert(description))
        }
        Protocol::Xmpp => {
            let condition = match reason {
                Reason::NoRoute => "host-unknown",
                Reason::Unreachable | Reason::BackendRefused => "remote-connection-failed",
                Reason::Denied | Reason::AuthRequired => "policy-violation",
                Reason::Malformed | Reason::TooLarge => "bad-format",
                Reason::Timeout
                | Reason::NoMatch
                | Reason::ProxyRequired
                | Reason::ProxyForbidden
                | Reason::Fragmented
                | Reason::Limit(_)
                | Reason::TlsHandshake => {
                    return None;
                }
            };
            Some(xmpp_stream_error(condition, xmpp))
        }
        Protocol::Connect => connect_answer(reason),
        Protocol::Socks5 => socks5_answer(reason),
        Protocol::Dial | Protocol::Ssh | Protocol::Quic | Protocol::Other => None,
    }
}

/// The answer to an HTTP `CONNECT` request: `407` with a `Basic` challenge
/// for missing or wrong credentials, `403` for a target no route admits,
/// `502` when it cannot be reached.
fn connect_answer(reason: Reason) -> Option<Vec<u8>> {
    let (status, text) = match reason {
        Reason::AuthRequired => return Some(proxy_auth_required()),
        Reason::NoRoute | Reason::Denied => ("403 Forbidden", "this target is not allowed"),
        Reason::Unreachable | Reason::BackendRefused => {
            ("502 Bad Gateway", "the target is unreachable")
        }
        Reason::Timeout => ("408 Request Timeout", "the request did not arrive in time"),
        Reason::TooLarge => (
            "431 Request Header Fields Too Large",
            "request header too large",
        ),
        Reason::Malformed => ("400 Bad Request", "malformed request"),
        Reason::NoMatch
        | Reason::ProxyRequired
        | Reason::ProxyForbidden
        | Reason::Fragmented
        | Reason::Limit(_)
        | Reason::TlsHandshake => return None,
    };
    Some(http_response(status, text))
}

/// `407 Proxy Authentication Required` with `Proxy-Authenticate: Basic`.
fn proxy_auth_required() -> Vec<u8> {
    let body = "407 Proxy Authentication Required: credentials needed\n";
    format!(
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"portico\", charset=\"UTF-8\"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The SOCKS5 reply to a request refused after the exchange: `0x04` host
/// unreachable, `0x05` connection refused, `0x02` not allowed by the
/// rules (no route, denied, credentials), `0x01` otherwise. A greeting
/// refused while it was sniffed gets `0xFF` (no acceptable method).
fn socks5_answer(reason: Reason) -> Option<Vec<u8>> {
    use portico_sniff::socks5;
    let code = match reason {
        Reason::Unreachable => socks5::HOST_UNREACHABLE,
        Reason::BackendRefused => socks5::CONNECTION_REFUSED,
        Reason::NoRoute | Reason::Denied | Reason::AuthRequired => socks5::NOT_ALLOWED,
        Reason::Malformed | Reason::TooLarge => {
            return Some(socks5::method_selection(socks5::NO_ACCEPTABLE).to_vec());
        }
        Reason::Timeout => socks5::GENERAL_FAILURE,
        Reason::NoMatch
        | Reason::ProxyRequired
        | Reason::ProxyForbidden
        | Reason::Fragmented
        | Reason::Limit(_)
        | Reason::TlsHandshake => return None,
    };
    Some(socks5::reply(code, None))
}

/// An HTTP/1.1 response with a text/plain body that closes the connection.
pub(crate) fn http_response(status: &str, text: &str) -> Vec<u8> {
    let body = format!("{status}: {text}\n");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A fatal TLS alert record with `description`.
pub(crate) fn tls_alert(description: u8) -> Vec<u8> {
    vec![21, 3, 3, 0, 2, 2, description]
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// A fresh stream id: unique within the process, not a secret.
fn stream_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "portico-{:x}-{nanos:x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A response stream header followed by a stream error and the stream's end.
pub(crate) fn xmpp_stream_error(condition: &str, hints: &XmppHints) -> Vec<u8> {
    let ns = if hints.server {
        "jabber:server"
    } else {
        "jabber:client"
    };
    let from = hints
        .to
        .as_deref()
        .map(|to| format!(" from='{}'", xml_escape(to)))
        .unwrap_or_default();
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{ns}' xmlns:stream='http://etherx.jabber.org/streams' \
         id='{}'{from} version='1.0'><stream:error><{condition} \
         xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
        stream_id()
    )
    .into_bytes()
}

/// Writes `answer` (if any) under [`ANSWER_WRITE_TIMEOUT`], shuts down the
/// write side, then discards up to [`DRAIN_MAX`] bytes of client input for
/// at most [`DRAIN_TIMEOUT`] so the answer is not lost to a reset. Errors
/// are ignored: the connection is being given up either way.
pub(crate) async fn send_and_close<S>(stream: &mut S, answer: Option<&[u8]>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(bytes) = answer {
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        if !matches!(
            tokio::time::timeout(ANSWER_WRITE_TIMEOUT, write).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    if tokio::time::timeout(ANSWER_WRITE_TIMEOUT, stream.shutdown())
        .await
        .is_err()
    {
        return;
    }
    let drain = async {
        // On the heap: an array here would make every connection's task
        // state 4 KiB larger, refused or not.
        let mut scratch = vec![0u8; 4096];
        let mut total = 0usize;
        while total < DRAIN_MAX {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total = total.saturating_add(n),
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("an answer")).expect("utf-8")
    }

    #[test]
    fn http_answers_carry_status_length_and_close() {
        let hints = XmppHints::default();
        for (reason, status) in [
            (Reason::NoRoute, "421 Misdirected Request"),
            (Reason::Unreachable, "502 Bad Gateway"),
            (Reason::Timeout, "408 Request Timeout"),
            (Reason::Malformed, "400 Bad Request"),
            (Reason::TooLarge, "431 Request Header Fields Too Large"),
        ] {
            let t = text(answer(Some(Protocol::Http), reason, &hints));
            assert!(t.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{t}");
            assert!(t.contains("Connection: close\r\n"), "{t}");
            assert!(t.contains("Content-Type: text/plain"), "{t}");
            let (head, body) = t.split_once("\r\n\r\n").expect("head and body");
            assert!(
                head.contains(&format!("Content-Length: {}\r\n", body.len())),
                "{t}"
            );
        }
    }

    #[test]
    fn tls_alerts_are_fatal_records() {
        let hints = XmppHints::default();
        assert_eq!(
            answer(Some(Protocol::Tls), Reason::NoRoute, &hints),
            Some(vec![21, 3, 3, 0, 2, 2, 112])
        );
        assert_eq!(
            answer(Some(Protocol::Tls), Reason::Unreachable, &hints),
            Some(vec![21, 3, 3, 0, 2, 2, 80])
        );
        assert_eq!(
            answer(Some(Protocol::Tls), Reason::Malformed, &hints),
            Some(vec![21, 3, 3, 0, 2, 2, 50])
        );
        assert_eq!(
            answer(Some(Protocol::Tls), Reason::TooLarge, &hints),
            Some(vec![21, 3, 3, 0, 2, 2, 50])
        );
        assert_eq!(answer(Some(Protocol::Tls), Reason::Timeout, &hints), None);
    }

    #[test]
    fn xmpp_errors_open_a_stream_in_the_clients_namespace() {
        let hints = XmppHints::from_bytes(
            b"<stream:stream xmlns='jabber:server' to='x'>",
            Some("example.org".into()),
        );
        let t = text(answer(Some(Protocol::Xmpp), Reason::NoRoute, &hints));
        assert!(
            t.starts_with("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "),
            "{t}"
        );
        assert!(
            t.contains("xmlns:stream='http://etherx.jabber.org/streams'"),
            "{t}"
        );
        assert!(t.contains(" from='example.org' version='1.0'>"), "{t}");
        assert!(t.ends_with(
            "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
        ));
        let client = XmppHints::from_bytes(b"<stream:stream xmlns='jabber:client'", None);
        let t = text(answer(Some(Protocol::Xmpp), Reason::Unreachable, &client));
        assert!(
            t.contains("xmlns='jabber:client'") && !t.contains("from="),
            "{t}"
        );
        assert!(t.contains("<remote-connection-failed "), "{t}");
        let t = text(answer(Some(Protocol::Xmpp), Reason::Malformed, &client));
        assert!(t.contains("<bad-format "), "{t}");
    }

    #[test]
    fn dial_unknown_and_timeouts_close_silently() {
        let hints = XmppHints::default();
        assert_eq!(answer(Some(Protocol::Dial), Reason::NoRoute, &hints), None);
        assert_eq!(answer(None, Reason::NoMatch, &hints), None);
        assert_eq!(answer(Some(Protocol::Xmpp), Reason::Timeout, &hints), None);
    }

    #[test]
    fn xml_attribute_is_escaped() {
        let hints = XmppHints {
            server: false,
            to: Some("a'b<c".into()),
        };
        let t = text(answer(Some(Protocol::Xmpp), Reason::NoRoute, &hints));
        assert!(t.contains("from='a&apos;b&lt;c'"), "{t}");
    }

    #[tokio::test]
    async fn send_and_close_writes_then_shuts_down() {
        let (mut near, mut far) = tokio::io::duplex(1024);
        let sender = tokio::spawn(async move {
            send_and_close(&mut near, Some(b"bye")).await;
        });
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.expect("read");
        drop(far);
        sender.await.expect("sender finished");
        assert_eq!(got, b"bye");
    }
}
