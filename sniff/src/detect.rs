//! The entry point that runs the enabled detectors over the bytes so far
//! and combines their answers (the rules are on [`detect`]).

use crate::types::{Detection, Error, Limits, Protocol, ProtocolSet, Status, Verdict};
use crate::{connect, dial, http, socks5, ssh, tls, xmpp};

/// Detects the protocol and hostname in `buf`, the bytes a client sent so
/// far, among the `enabled` protocols.
///
/// Returns [`Status::Partial`] while more bytes are needed; the caller reads
/// more and calls again with the longer buffer. A buffer of
/// [`Limits::max_peek`] bytes always gets a final answer.
///
/// # Which bytes belong to which protocol
///
/// Each detector *claims* input only once its first bytes can belong to
/// nothing else, and the claims never overlap:
///
/// | protocol | claims the input once it starts with |
/// |---|---|
/// | TLS | `0x16` (a handshake record) |
/// | XMPP | `<` after optional XML whitespace (SP, HT, CR, LF); no byte-order mark |
/// | dial | `DIAL ` (exactly: upper case, one space) |
/// | connect | `CONNECT ` (exactly: upper case, one space) |
/// | ssh | `SSH-` |
/// | SOCKS5 | `0x05` |
/// | HTTP | a method token (RFC 9110 `tchar`s) followed by SP, except `DIAL `, `CONNECT ` and `SSH-…` |
/// | other | nothing: no detector; `detect` never returns [`Protocol::Other`] |
/// | quic | nothing: QUIC is UDP, read by [`crate::quic::InitialReader`] |
///
/// A line that starts exactly with `DIAL ` is therefore never HTTP, whether or
/// not dial is enabled: with dial enabled it is a dial line, without it the
/// answer is [`Error::NoMatch`] (bytes of a disabled protocol). The same holds
/// for `CONNECT ` (a proxy request when connect is enabled, else no match) and
/// for `SSH-`. `DELETE /` is ruled out as a dial line at its second byte,
/// `DIAL x` as an HTTP request at its fifth, `CONNECTX` as a proxy request at
/// its eighth. Until a detector has claimed the input it answers either "need
/// more" or "not mine" — never an error — so a detector never reports another
/// protocol's bytes as malformed. The one exception is input that fills a cap
/// while only one protocol could still match it: a run of token bytes without
/// SP as long as [`Limits::http_head`] is too large HTTP (unless it is still a
/// prefix of `DIAL `, `CONNECT ` or `SSH-`), and as many bytes of
/// whitespace as [`Limits::xmpp_head`] are too large XMPP.
///
/// [`Protocol::Other`] is for the gateway: it names a connection that no
/// enabled detector matched, or a client that sent nothing in time. Enabling
/// it here changes nothing.
///
/// # Combining the answers
///
/// Only the protocols in `enabled` are run; the others are not considered at
/// all. Then, over the enabled detectors:
/// 1. one has a complete answer → [`Status::Complete`];
/// 2. one has claimed the bytes and found them malformed or over its cap in
///    [`Limits`] → that [`Error::Malformed`] or [`Error::TooLarge`];
/// 3. every one says "not mine" → [`Error::NoMatch`] (also for an empty set);
/// 4. otherwise → [`Status::Partial`].
///
/// Because claims are disjoint, at most one detector reaches 1 or 2, and the
/// order in which they run does not matter. Every detector's answer is a
/// function of the bytes alone, scanned from the start, and once it is not
/// "need more" it stays the same however many bytes follow: detection over a
/// growing buffer gives the same result as over the whole buffer at once.
pub fn detect(
    buf: &[u8],
    enabled: ProtocolSet,
    limits: &Limits,
) -> Result<Status<Detection>, Error> {
    let mut partial = false;
    for protocol in enabled.iter() {
        match run(protocol, buf, limits) {
            Verdict::NotMine => {}
            Verdict::Partial => partial = true,
            Verdict::Complete(found) => return Ok(Status::Complete(*found)),
            Verdict::Malformed(reason) => return Err(Error::Malformed { protocol, reason }),
            Verdict::TooLarge => return Err(Error::TooLarge { protocol }),
        }
    }
    if partial {
        Ok(Status::Partial)
    } else {
        Err(Error::NoMatch)
    }
}

impl Limits {
    /// The largest number of bytes any enabled detector may need; a caller
    /// sizes its peek buffer with this.
    pub fn max_peek(&self) -> usize {
        // The TLS detector bounds the *handshake message*; the peek buffer
        // also holds its record headers (see `tls::max_record_bytes`).
        // `CONNECT` heads share the HTTP cap.
        tls::max_record_bytes(self.tls_hello)
            .max(self.http_head)
            .max(self.xmpp_head)
            .max(dial::MAX_LINE)
            .max(ssh::MAX_BANNER)
            .max(socks5::MAX_GREETING)
    }
}

/// Runs one protocol's detector.
fn run(protocol: Protocol, buf: &[u8], limits: &Limits) -> Verdict {
    match protocol {
        Protocol::Tls => tls::sniff(buf, limits),
        Protocol::Http => http::sniff(buf, limits),
        Protocol::Xmpp => xmpp::sniff(buf, limits),
        Protocol::Dial => dial::sniff(buf),
        Protocol::Ssh => ssh::sniff(buf),
        Protocol::Connect => connect::sniff(buf, limits),
        Protocol::Socks5 => socks5::sniff(buf),
        // QUIC arrives in UDP datagrams, read by `quic::InitialReader`.
        Protocol::Quic | Protocol::Other => Verdict::NotMine,
    }
}

#[cfg(test)]
mod tests;
