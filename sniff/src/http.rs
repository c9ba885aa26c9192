//! HTTP/1.0 and HTTP/1.1 request heads (with `httparse`), and the HTTP/2
//! prior-knowledge preface.
//!
//! - The input is HTTP once it starts with a registered method in common use
//!   (`GET`, `POST`, … see `KNOWN_METHODS`) and SP, or with a request line
//!   shaped `method SP target SP HTTP/` (any method of RFC 9110 `tchar`s,
//!   target free of spaces and control bytes), unless it starts with `DIAL `
//!   (a dial line), `CONNECT ` (a proxy request, see `connect`) or `SSH-` (an
//!   SSH banner): see `detect`. Anything else is not HTTP either: a line
//!   without `HTTP/` is "no match", never a malformed request. No empty lines
//!   may precede the request line.
//! - The 24-byte preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` is HTTP with no host
//!   and [`crate::Http::h2_preface`] set.
//! - Otherwise the request line and header section, up to and including the
//!   empty line, are parsed strictly by `httparse` (no obs-fold, single spaces
//!   in the request line, versions 1.0 and 1.1 only). The head must end within
//!   [`crate::Limits::http_head`] bytes and carry at most
//!   [`crate::Limits::http_headers`] headers, else it is too large: a buffer
//!   of `http_head` bytes or more whose first `http_head` bytes do not end the
//!   head is too large at once.
//! - The request target is origin-form (`/path`), asterisk-form (`*`) or
//!   absolute-form (`scheme://authority/path`); anything else is malformed.
//!   (Authority-form belongs to `CONNECT`, which is never HTTP here.)
//! - The host is the authority of an absolute-form target,
//!   else the `Host` header. Ports are stripped (not reported); IPv6 literals
//!   are in brackets. More than one `Host` header is malformed (smuggling); so
//!   is a `Host` naming another host than an absolute-form target (ports are
//!   not compared); so is an HTTP/1.1 request without `Host`. An HTTP/1.0
//!   request without `Host` has no host. An empty `Host` value (allowed by RFC
//!   9110 when the target has no authority) also means no host.
//! - [`crate::Http::path`] is the target's path and query (for absolute-form,
//!   the part after the authority, `/` when empty).

use crate::authority::{self, Authority, EmptyPort};
use crate::types::{Detection, Http, Limits, Malformed, Protocol, Verdict};

/// The HTTP/2 prior-knowledge connection preface (RFC 9113 section 3.4).
pub(crate) const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The shortest header line `httparse` accepts (`a:` and LF), used to bound
/// the header array by the head cap.
const MIN_HEADER_LINE: usize = 3;

/// Runs HTTP detection over the bytes so far.
pub(crate) fn sniff(buf: &[u8], limits: &Limits) -> Verdict {
    match claim(buf, limits.http_head) {
        Claim::Http => {}
        Claim::NotMine => return Verdict::NotMine,
        Claim::NeedMore => return Verdict::Partial,
        Claim::TooLarge => return Verdict::TooLarge,
    }
    let preface_len = buf.len().min(H2_PREFACE.len());
    if buf.get(..preface_len) == H2_PREFACE.get(..preface_len) {
        if buf.len() < H2_PREFACE.len() {
            return Verdict::Partial;
        }
        let mut found = Detection::new(Protocol::Http, None);
        found.http = Some(Http {
            h2_preface: true,
            ..Http::default()
        });
        return Verdict::Complete(Box::new(found));
    }
    parse_head(buf, limits, Malformed::HttpSyntax, |req, _| request(req))
}

/// Parses an HTTP/1.x request head with `httparse` under the caps of
/// `limits`, and hands a complete one and its length to `complete`. A syntax
/// error is `malformed`; a head that does not end within
/// [`Limits::http_head`] bytes, or has more than [`Limits::http_headers`]
/// headers, is too large. Shared with the `CONNECT` detector.
pub(crate) fn parse_head(
    buf: &[u8],
    limits: &Limits,
    malformed: Malformed,
    complete: impl FnOnce(&httparse::Request<'_, '_>, usize) -> Verdict,
) -> Verdict {
    let head = buf.get(..limits.http_head).unwrap_or(buf);
    let max_headers = limits
        .http_headers
        .min(limits.http_head / MIN_HEADER_LINE + 1);
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(len)) => complete(&req, len),
        Ok(httparse::Status::Partial) if buf.len() >= limits.http_head => Verdict::TooLarge,
        Ok(httparse::Status::Partial) => Verdict::Partial,
        Err(httparse::Error::TooManyHeaders) => Verdict::TooLarge,
        Err(_) => Verdict::Malformed(malformed),
    }
}

/// Whether the start of the input makes it HTTP.
enum Claim {
    /// A request line shaped `method SP target SP HTTP/`: HTTP.
    Http,
    /// Cannot be HTTP.
    NotMine,
    /// A prefix of such a request line so far.
    NeedMore,
    /// A prefix of such a request line, filling the head cap.
    TooLarge,
}

/// Where [`claim`] is in the request line.
#[derive(Clone, Copy)]
enum LineState {
    /// In the method token; holds its length so far.
    Method(usize),
    /// In the request target; holds its length so far.
    Target(usize),
    /// Matching `HTTP/`; holds how many of its bytes matched.
    Version(usize),
}

/// Registered methods in common use: a request line starting with one of
/// these and SP is HTTP at once, so a malformed line still gets a `400`.
/// Other method tokens must show the whole `target SP HTTP/` shape first.
const KNOWN_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PRI",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"MKCALENDAR",
];

/// The version prefix every HTTP/1.x (and the HTTP/2 preface) request line has.
const VERSION_PREFIX: &[u8] = b"HTTP/";

/// Input starting with one of these belongs to another detector (dial,
/// connect, ssh), whether or not that one is enabled.
const OTHER_PREFIXES: [&[u8]; 3] = [b"DIAL ", b"CONNECT ", b"SSH-"];

/// Decides whether `buf` starts like an HTTP request line: a method token, SP,
/// a target free of spaces and control bytes, SP and `HTTP/`, and not one of
/// [`OTHER_PREFIXES`]. Anything else (a line without a version) is not HTTP,
/// so it ends as "no match", not as a malformed request.
fn claim(buf: &[u8], cap: usize) -> Claim {
    if buf.is_empty() {
        return Claim::NeedMore;
    }
    if OTHER_PREFIXES.iter().any(|p| buf.starts_with(p)) {
        return Claim::NotMine;
    }
    if OTHER_PREFIXES.iter().any(|p| p.starts_with(buf)) {
        // Still undecided, whatever the head cap: a tiny cap must not make
        // `CONNEC` too large HTTP when `CONNECT ` would not be HTTP at all.
        return Claim::NeedMore;
    }
    let mut state = LineState::Method(0);
    for (i, &b) in buf.iter().take(cap).enumerate() {
        state = match state {
            LineState::Method(n) if b == b' ' && n > 0 => {
                if buf.get(..i).is_some_and(|m| KNOWN_METHODS.contains(&m)) {
                    return Claim::Http;
                }
                LineState::Target(0)
            }
            LineState::Method(n) if is_tchar(b) => LineState::Method(n + 1),
            LineState::Target(n) if b == b' ' && n > 0 => LineState::Version(0),
            LineState::Target(n) if b > b' ' && b != 0x7f => LineState::Target(n + 1),
            LineState::Version(k) if VERSION_PREFIX.get(k) == Some(&b) => {
                if k + 1 == VERSION_PREFIX.len() {
                    return Claim::Http;
                }
                LineState::Version(k + 1)
            }
            _ => return Claim::NotMine,
        };
    }
    if buf.len() >= cap {
        Claim::TooLarge
    } else {
        Claim::NeedMore
    }
}

/// RFC 9110 section 5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a complete request head and extracts its host.
fn request(req: &httparse::Request<'_, '_>) -> Verdict {
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Verdict::Malformed(Malformed::HttpSyntax);
    };
    let mut host_headers = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"));
    let host_header = host_headers.next();
    if host_headers.next().is_some() {
        return Verdict::Malformed(Malformed::HttpDuplicateHost);
    }
    let target = match parse_target(target) {
        Ok(t) => t,
        Err(reason) => return Verdict::Malformed(reason),
    };
    let header_host = match host_header.map(|h| h.value) {
        None => None,
        Some([]) => Some(None),
        Some(value) => match authority::parse(value, EmptyPort::Allowed) {
            Ok(a) => Some(Some(a)),
            Err(_) => return Verdict::Malformed(Malformed::HttpHost),
        },
    };
    if header_host.is_none() && minor == 1 {
        return Verdict::Malformed(Malformed::HttpMissingHost);
    }
    let host = match (target.authority, header_host.flatten()) {
        (Some(t), Some(h)) if t.host != h.host => {
            return Verdict::Malformed(Malformed::HttpHostMismatch);
        }
        (Some(t), _) => Some(t.host),
        (None, h) => h.map(|a| a.host),
    };
    let mut found = Detection::new(Protocol::Http, host);
    found.http = Some(Http {
        method: method.to_owned(),
        path: target.path,
        h2_preface: false,
        minor_version: minor,
    });
    Verdict::Complete(Box::new(found))
}

/// A request target, split.
struct Target {
    /// The authority of an absolute-form target.
    authority: Option<Authority>,
    /// The path and query.
    path: String,
}

/// Splits a request target into its authority (if any) and path.
fn parse_target(target: &str) -> Result<Target, Malformed> {
    if target.starts_with('/') || target == "*" {
        return Ok(Target {
            authority: None,
            path: target.to_owned(),
        });
    }
    let (scheme, rest) = target.split_once("://").ok_or(Malformed::HttpSyntax)?;
    if !is_scheme(scheme) {
        return Err(Malformed::HttpSyntax);
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (raw_authority, path) = rest.split_at(end);
    let authority = authority::parse(raw_authority.as_bytes(), EmptyPort::Allowed)
        .map_err(|_| Malformed::HttpHost)?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Ok(Target {
        authority: Some(authority),
        path,
    })
}

/// RFC 3986 `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

#[cfg(test)]
mod tests;
