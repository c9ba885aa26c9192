//! TLS ClientHello: the server name (SNI) and the ALPN list, reassembled from
//! any number of handshake records.
//!
//! - The input is TLS once its first byte is `0x16` (a handshake record).
//! - Records are read one after another, each checked as its header arrives:
//!   content type 22, version major 3 (any minor), length 1..=16384; anything
//!   else is [`Malformed::TlsRecord`]. Their payloads are joined into the
//!   first handshake message, which must be a ClientHello (type 1) else
//!   [`Malformed::TlsHello`]. Its 3-byte length is checked as soon as it
//!   arrives: over [`crate::Limits::tls_hello`] is too large at once.
//! - The record bytes (headers and payloads) needed to carry the hello are
//!   capped by [`max_record_bytes`]; a buffer of that many bytes or more
//!   whose first `max_record_bytes` bytes do not hold the whole hello is too
//!   large. Bytes after the hello, in its last
//!   record or later, are not looked at.
//! - The hello body is parsed by `tls-parser` and must be consumed exactly.
//!   Extensions are framed here (each type at most once, else malformed) and
//!   only `server_name` (0) and `application_layer_protocol_negotiation` (16)
//!   are interpreted, by `tls-parser`; others are skipped unparsed, so new or
//!   odd extensions (post-quantum key shares, ECH, GREASE) never fail a hello.
//! - `server_name` must hold at most one `host_name` entry, a valid DNS name
//!   (RFC 6066 forbids IP literals there) normalised like
//!   [`crate::Hostname`]; otherwise [`Malformed::TlsServerName`]. No
//!   `server_name`, or one without a `host_name` entry, means no host.
//! - ALPN must be a non-empty list of non-empty names framed exactly, else
//!   [`Malformed::TlsHello`].

use std::borrow::Cow;

use tls_parser::TlsExtension;

use crate::hostname::Hostname;
use crate::types::{Detection, Limits, Malformed, Protocol, Tls, Verdict};

/// The TLS record content type of handshake messages.
const CONTENT_HANDSHAKE: u8 = 22;
/// The handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// A record header: type, version (2), length (2).
const RECORD_HEADER_LEN: usize = 5;
/// The largest plaintext record payload (RFC 8446 section 5.1).
const MAX_RECORD_LEN: usize = 16_384;
/// A handshake message header: type, length (3).
const HANDSHAKE_HEADER_LEN: usize = 4;
/// Extension type `server_name`.
const EXT_SERVER_NAME: u16 = 0;
/// Extension type `application_layer_protocol_negotiation`.
const EXT_ALPN: u16 = 16;
/// `NameType` `host_name` in `server_name`.
const SNI_HOST_NAME: u8 = 0;

/// The most record-layer bytes (headers and payloads) read to reassemble a
/// ClientHello of at most `tls_hello` bytes: the handshake message with its
/// 4-byte header, one record header, and one more record header per 80 bytes
/// of message, which admits any hello split into records of 80 bytes or more.
pub(crate) fn max_record_bytes(tls_hello: usize) -> usize {
    let message = tls_hello.saturating_add(HANDSHAKE_HEADER_LEN);
    message
        .saturating_add(message / 16)
        .saturating_add(RECORD_HEADER_LEN)
}

/// Runs TLS detection over the bytes so far.
pub(crate) fn sniff(buf: &[u8], limits: &Limits) -> Verdict {
    match buf.first() {
        None => return Verdict::Partial,
        Some(&CONTENT_HANDSHAKE) => {}
        Some(_) => return Verdict::NotMine,
    }
    let cap = max_record_bytes(limits.tls_hello);
    match reassemble(buf.get(..cap).unwrap_or(buf), limits.tls_hello) {
        Ok(Some(message)) => client_hello(&message),
        Ok(None) if buf.len() >= cap => Verdict::TooLarge,
        Ok(None) => Verdict::Partial,
        Err(verdict) => verdict,
    }
}

/// Joins record payloads until the first handshake message is complete.
/// Returns the message body (without its header), `None` while more bytes
/// are needed, or the verdict for the first problem found, scanning in byte
/// order. A hello that fits its first record (the usual case) is borrowed,
/// not copied; one spread over records is joined a record at a time.
fn reassemble(buf: &[u8], tls_hello: usize) -> Result<Option<Cow<'_, [u8]>>, Verdict> {
    let mut message: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    // The full message length (header included), once its header is in.
    let mut needed: Option<usize> = None;
    let mut pos = 0;
    loop {
        let header = buf.get(pos..).unwrap_or_default();
        let payload_len = match record_header(header)? {
            Some(len) => len,
            None => return Ok(None),
        };
        let start = pos + RECORD_HEADER_LEN;
        let available = buf.get(start..).unwrap_or_default();
        let payload = available.get(..payload_len).unwrap_or(available);
        if message.is_empty() {
            message = Cow::Borrowed(payload);
        } else {
            message.to_mut().extend_from_slice(payload);
        }
        if message
            .first()
            .is_some_and(|&t| t != HANDSHAKE_CLIENT_HELLO)
        {
            return Err(Verdict::Malformed(Malformed::TlsHello));
        }
        if needed.is_none()
            && let Some(len_bytes) = message.get(1..HANDSHAKE_HEADER_LEN)
        {
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &x| acc << 8 | usize::from(x));
            if len > tls_hello {
                return Err(Verdict::TooLarge);
            }
            needed = Some(HANDSHAKE_HEADER_LEN + len);
        }
        if let Some(end) = needed
            && message.len() >= end
        {
            return Ok(Some(match message {
                Cow::Borrowed(m) => {
                    Cow::Borrowed(m.get(HANDSHAKE_HEADER_LEN..end).unwrap_or_default())
                }
                Cow::Owned(mut m) => {
                    m.truncate(end);
                    m.drain(..HANDSHAKE_HEADER_LEN);
                    Cow::Owned(m)
                }
            }));
        }
        if payload.len() < payload_len {
            return Ok(None);
        }
        pos = start + payload_len;
    }
}

/// Checks a record header as far as it has arrived; returns its payload
/// length once all five bytes are in.
fn record_header(header: &[u8]) -> Result<Option<usize>, Verdict> {
    let bad = Verdict::Malformed(Malformed::TlsRecord);
    if header.first().is_some_and(|&t| t != CONTENT_HANDSHAKE) {
        return Err(bad);
    }
    if header.get(1).is_some_and(|&major| major != 3) {
        return Err(bad);
    }
    let (Some(&hi), Some(&lo)) = (header.get(3), header.get(4)) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len == 0 || len > MAX_RECORD_LEN {
        return Err(bad);
    }
    Ok(Some(len))
}

/// Parses a complete ClientHello body (the handshake message without its
/// 4-byte header); QUIC hands over the hello from its CRYPTO frames here.
pub(crate) fn client_hello(body: &[u8]) -> Verdict {
    let bad = Verdict::Malformed(Malformed::TlsHello);
    let hello = match tls_parser::parse_tls_handshake_client_hello(body) {
        Ok(([], hello)) => hello,
        _ => return bad,
    };
    if hello.version.0 >> 8 != 3 {
        return bad;
    }
    let mut host = None;
    let mut alpn = Vec::new();
    let mut seen: Vec<u16> = Vec::new();
    let mut extensions = hello.ext.unwrap_or_default();
    while !extensions.is_empty() {
        let Some((kind, data, rest)) = split_extension(extensions) else {
            return bad;
        };
        extensions = rest;
        if seen.contains(&kind) {
            return bad;
        }
        seen.push(kind);
        match kind {
            EXT_SERVER_NAME => match server_name(data) {
                Ok(name) => host = name,
                Err(reason) => return Verdict::Malformed(reason),
            },
            EXT_ALPN => match protocols(data) {
                Some(list) => alpn = list,
                None => return bad,
            },
            _ => {}
        }
    }
    let mut found = Detection::new(Protocol::Tls, host);
    found.tls = Some(Tls { alpn });
    Verdict::Complete(Box::new(found))
}

/// Splits the first extension off: its type, its data and what follows.
fn split_extension(bytes: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    let (&[t0, t1, l0, l1], rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let data = rest.get(..len)?;
    let after = rest.get(len..)?;
    Some((u16::from_be_bytes([t0, t1]), data, after))
}

/// Reads the `server_name` extension: its `host_name`, if any.
fn server_name(data: &[u8]) -> Result<Option<Hostname>, Malformed> {
    let bad = Malformed::TlsServerName;
    let list_len = match data {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => return Err(bad),
    };
    let Ok((rest, TlsExtension::SNI(entries))) = tls_parser::parse_tls_extension_sni_content(data)
    else {
        return Err(bad);
    };
    let framed: usize = entries.iter().map(|(_, name)| 3 + name.len()).sum();
    if !rest.is_empty() || entries.is_empty() || framed != list_len || list_len + 2 != data.len() {
        return Err(bad);
    }
    let mut names = entries.iter().filter(|(kind, _)| kind.0 == SNI_HOST_NAME);
    let Some((_, name)) = names.next() else {
        return Ok(None);
    };
    if names.next().is_some() {
        return Err(bad);
    }
    match Hostname::parse(name) {
        Ok(host) if !host.is_ip() => Ok(Some(host)),
        _ => Err(bad),
    }
}

/// Reads the ALPN extension's protocol names.
fn protocols(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let list_len = match data {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => return None,
    };
    let Ok((rest, TlsExtension::ALPN(names))) = tls_parser::parse_tls_extension_alpn_content(data)
    else {
        return None;
    };
    let framed: usize = names.iter().map(|name| 1 + name.len()).sum();
    let exact = rest.is_empty() && framed == list_len && list_len + 2 == data.len();
    if !exact || names.is_empty() || names.iter().any(|name| name.is_empty()) {
        return None;
    }
    Some(names.into_iter().map(<[u8]>::to_vec).collect())
}

#[cfg(test)]
mod tests;
