//! HTTP/1.x `CONNECT host:port` proxy requests (RFC 9110 section 9.3.6),
//! which the gateway answers itself before joining the client to a backend.
//!
//! - The input is a `CONNECT` request once it starts with exactly `CONNECT `
//!   (upper case, one SP); such input is never HTTP (see `detect`).
//! - The request line and header section, up to and including the empty
//!   line, are parsed as the `http` detector parses them (`httparse`,
//!   strict; versions 1.0 and 1.1), under [`crate::Limits::http_head`] and
//!   [`crate::Limits::http_headers`]; a syntax error is
//!   [`Malformed::ConnectRequest`].
//! - The target is authority-form, `host:port`: a DNS name, an IPv4 literal
//!   or a bracketed IPv6 literal, and a port from 1 to 65535 (required).
//!   Anything else is [`Malformed::ConnectTarget`]. `Host` is not consulted.
//! - `Proxy-Authorization: Basic base64(user:password)` (RFC 7617; scheme
//!   case-insensitive, standard base64 with padding) gives
//!   [`Auth::Basic`], split at the first `:`. A Basic value that does not
//!   decode, has no `:` or a user that is not UTF-8, and more than one
//!   `Proxy-Authorization` header, give [`Auth::Invalid`]; other schemes
//!   count as no credentials.
//! - The whole head is consumed ([`crate::Detection::consume`]); the host is
//!   also reported as [`crate::Detection::host`] and the port as
//!   [`crate::Detection::port`].

use base64::Engine;

use crate::authority::{self, EmptyPort};
use crate::http;
use crate::target::{Auth, Credentials, ProxyRequest, ProxyTarget};
use crate::types::{Detection, Limits, Malformed, Protocol, Verdict};

/// The fixed start of a `CONNECT` request.
pub(crate) const PREFIX: &[u8] = b"CONNECT ";

/// Runs `CONNECT` detection over the bytes so far.
pub(crate) fn sniff(buf: &[u8], limits: &Limits) -> Verdict {
    let n = buf.len().min(PREFIX.len());
    if buf.get(..n) != PREFIX.get(..n) {
        return Verdict::NotMine;
    }
    if buf.len() < PREFIX.len() {
        return Verdict::Partial;
    }
    http::parse_head(buf, limits, Malformed::ConnectRequest, request)
}

/// Checks a complete request head of `len` bytes.
fn request(req: &httparse::Request<'_, '_>, len: usize) -> Verdict {
    let Some(target) = req.path else {
        return Verdict::Malformed(Malformed::ConnectRequest);
    };
    // RFC 9112 section 3.2.3: `authority-form = uri-host ":" port`.
    let parsed = authority::parse(target.as_bytes(), EmptyPort::Rejected);
    let Ok(authority::Authority {
        host,
        port: Some(port @ 1..),
    }) = parsed
    else {
        return Verdict::Malformed(Malformed::ConnectTarget);
    };
    let mut found = Detection::new(Protocol::Connect, Some(host.clone()));
    found.port = Some(port);
    found.consume = len;
    found.connect = Some(ProxyRequest {
        target: ProxyTarget::from_hostname(host),
        port,
        auth: proxy_authorization(req.headers),
    });
    Verdict::Complete(Box::new(found))
}

/// The credentials of the request's `Proxy-Authorization` header.
fn proxy_authorization(headers: &[httparse::Header<'_>]) -> Auth {
    let mut values = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|h| h.value);
    match (values.next(), values.next()) {
        (None, _) => Auth::None,
        (Some(value), None) => basic(value),
        (Some(_), Some(_)) => Auth::Invalid,
    }
}

/// Decodes a `Basic` credentials value; other schemes are no credentials.
fn basic(value: &[u8]) -> Auth {
    let value = value.trim_ascii();
    let (scheme, token) = match value.iter().position(|&b| b == b' ') {
        Some(sp) => value.split_at(sp),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Auth::None;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim_ascii()) else {
        return Auth::Invalid;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return Auth::Invalid;
    };
    let (user, password) = decoded.split_at(colon);
    match std::str::from_utf8(user) {
        Ok(user) => Auth::Basic(Credentials {
            user: user.to_owned(),
            password: password.get(1..).unwrap_or_default().to_vec(),
        }),
        Err(_) => Auth::Invalid,
    }
}

#[cfg(test)]
mod tests;
