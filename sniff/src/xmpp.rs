//! XMPP stream headers: the `to` of `<stream:stream>` (client-to-server or
//! server-to-server), parsed with `quick-xml` and namespace resolution.
//!
//! - The input is XMPP once its first byte other than XML whitespace (SP, HT,
//!   CR, LF) is `<`. A UTF-8 byte-order mark is not accepted: XMPP streams are
//!   UTF-8 without one in practice, and admitting it would widen the bytes
//!   that can start a stream for no client's benefit.
//! - Accepted before the stream header: leading whitespace, or an XML
//!   declaration at the very first byte (`version` 1.0, `encoding` UTF-8 if
//!   given) followed by optional whitespace. Comments, processing
//!   instructions, DOCTYPE and text are malformed (RFC 6120 section 11.1).
//! - A hand-written scanner finds the `>` that closes the root start tag,
//!   respecting quotes; until it arrives the answer is "need more" (or too
//!   large once [`crate::Limits::xmpp_head`] bytes have not closed it). Only
//!   then is the prologue and start tag handed to `quick-xml`, so a truncated
//!   buffer is never mistaken for malformed XML.
//! - The root must be a start tag (not empty) named `stream` in the namespace
//!   `http://etherx.jabber.org/streams` under any prefix, and the default
//!   namespace in scope must be `jabber:client` or `jabber:server`; otherwise
//!   [`Malformed::XmppNotStream`]. Undeclared prefixes, duplicate attributes,
//!   bad escapes and non-UTF-8 bytes are [`Malformed::XmppXml`].
//! - The unprefixed `to` attribute (either quote style, entities decoded) is
//!   the host; an IP literal may be bracketed (`[::1]`, RFC 7622). A `to` that
//!   is not a hostname is [`Malformed::XmppTo`]; no `to` means no host.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, QName, ResolveResult};

use crate::hostname::Hostname;
use crate::types::{Detection, Limits, Malformed, Protocol, Verdict};

/// The namespace of the `stream` element.
pub(crate) const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
/// The default namespaces a stream header may declare.
pub(crate) const CONTENT_NAMESPACES: [&str; 2] = ["jabber:client", "jabber:server"];

/// The start of an XML declaration (followed by whitespace).
const DECL_START: &[u8] = b"<?xml";

/// Runs XMPP detection over the bytes so far.
pub(crate) fn sniff(buf: &[u8], limits: &Limits) -> Verdict {
    let view = buf.get(..limits.xmpp_head).unwrap_or(buf);
    let need_more = if buf.len() >= limits.xmpp_head {
        Verdict::TooLarge
    } else {
        Verdict::Partial
    };
    match view.iter().find(|&&b| !is_space(b)) {
        None if buf.is_empty() => return Verdict::Partial,
        None => return need_more,
        Some(b'<') => {}
        Some(_) => return Verdict::NotMine,
    }
    match find_head_end(view) {
        Ok(Some(end)) => parse_head(view.get(..end).unwrap_or(view)),
        Ok(None) => need_more,
        Err(reason) => Verdict::Malformed(reason),
    }
}

/// XML whitespace (`S` in XML 1.0).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Finds the end (exclusive) of the root start tag, checking the prologue
/// on the way; `None` while it has not arrived.
fn find_head_end(buf: &[u8]) -> Result<Option<usize>, Malformed> {
    let mut pos = 0;
    // An XML declaration may only open the document, at byte 0.
    let decl_len = buf.len().min(DECL_START.len() + 1);
    let head = buf.get(..decl_len).unwrap_or_default();
    if head.len() <= DECL_START.len() && DECL_START.starts_with(head) && head.len() > 1 {
        return Ok(None);
    }
    if head.starts_with(DECL_START) && head.last().is_some_and(|&b| is_space(b)) {
        match scan_to(buf, DECL_START.len(), b"?>")? {
            Some(end) => pos = end,
            None => return Ok(None),
        }
    }
    // Whitespace, then the root start tag.
    while buf.get(pos).is_some_and(|&b| is_space(b)) {
        pos += 1;
    }
    match buf.get(pos) {
        None => return Ok(None),
        Some(b'<') => {}
        Some(_) => return Err(Malformed::XmppXml),
    }
    match buf.get(pos + 1) {
        None => return Ok(None),
        // Comments, DOCTYPE, CDATA, processing instructions, end tags.
        Some(b'!' | b'?' | b'/') => return Err(Malformed::XmppXml),
        Some(&b) if is_space(b) || b == b'>' || b == b'<' => return Err(Malformed::XmppXml),
        Some(_) => {}
    }
    scan_to(buf, pos + 1, b">")
}

/// Scans from `from` for `end` outside single or double quotes; returns the
/// index just past it, or `None` while it has not arrived. A `<` cannot occur
/// in a tag or declaration, quoted or not (XML 1.0 `AttValue`).
fn scan_to(buf: &[u8], from: usize, end: &[u8]) -> Result<Option<usize>, Malformed> {
    let mut quote: Option<u8> = None;
    let mut i = from;
    while let Some(&b) = buf.get(i) {
        if b == b'<' {
            return Err(Malformed::XmppXml);
        }
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if buf.get(i..).is_some_and(|rest| rest.starts_with(end)) => {
                return Ok(Some(i + end.len()));
            }
            None => {}
        }
        i += 1;
    }
    Ok(None)
}

/// Parses the prologue and root start tag (complete, nothing after it).
fn parse_head(head: &[u8]) -> Verdict {
    let xml = Verdict::Malformed(Malformed::XmppXml);
    let Ok(text) = std::str::from_utf8(head) else {
        return xml;
    };
    let mut reader = NsReader::from_str(text);
    loop {
        let (resolved, event) = match reader.read_resolved_event() {
            Ok(pair) => pair,
            Err(_) => return xml,
        };
        match event {
            Event::Decl(decl) => {
                let version_ok = decl.version().is_ok_and(|v| v == "1.0");
                let encoding_ok = match decl.encoding() {
                    None => true,
                    Some(Ok(e)) => e.eq_ignore_ascii_case("utf-8"),
                    Some(Err(_)) => false,
                };
                if !(version_ok && encoding_ok) {
                    return xml;
                }
            }
            Event::Text(t) if t.bytes().all(is_space) => {}
            Event::Start(start) => {
                match resolved {
                    ResolveResult::Bound(Namespace(NS_STREAMS))
                        if start.local_name().as_ref() == "stream" => {}
                    ResolveResult::Unknown(_) => return xml,
                    _ => return Verdict::Malformed(Malformed::XmppNotStream),
                }
                let (default_ns, _) = reader.resolver().resolve_element(QName("x"));
                match default_ns {
                    ResolveResult::Bound(Namespace(ns)) if CONTENT_NAMESPACES.contains(&ns) => {}
                    _ => return Verdict::Malformed(Malformed::XmppNotStream),
                }
                let mut to = None;
                for attribute in start.attributes() {
                    let Ok(attribute) = attribute else {
                        return xml;
                    };
                    if attribute.key.as_ref() == "to" {
                        let Ok(value) =
                            attribute.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                        else {
                            return xml;
                        };
                        to = Some(value.into_owned());
                    }
                }
                return stream_to(to);
            }
            Event::Empty(_) => return Verdict::Malformed(Malformed::XmppNotStream),
            _ => return xml,
        }
    }
}

/// Validates the stream's `to`.
fn stream_to(to: Option<String>) -> Verdict {
    let host = match to {
        None => None,
        Some(to) => {
            let raw = to
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .filter(|t| t.contains(':'))
                .unwrap_or(&to);
            match Hostname::parse_str(raw) {
                Ok(host) => Some(host),
                Err(_) => return Verdict::Malformed(Malformed::XmppTo),
            }
        }
    };
    Verdict::Complete(Box::new(Detection::new(Protocol::Xmpp, host)))
}

#[cfg(test)]
mod tests;
