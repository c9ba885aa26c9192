//! `host[:port]` authorities as HTTP `Host` headers, absolute-form request
//! targets and dial lines carry them, with IPv6 literals in brackets.

use crate::hostname::{Hostname, HostnameError};

/// Why an authority does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthorityError {
    /// The bracket syntax or the port is wrong.
    Syntax,
    /// The host part is not a valid hostname.
    Host(HostnameError),
}

/// A parsed authority: the normalised host and the port, when one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authority {
    /// The host, normalised.
    pub(crate) host: Hostname,
    /// The port after `:`; `None` when absent (or empty, where allowed).
    pub(crate) port: Option<u16>,
}

/// Whether an empty port after `:` (`example.org:`) is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmptyPort {
    /// RFC 9110's `port = *DIGIT` allows it in `Host`.
    Allowed,
    /// The dial line requires digits after `:`.
    Rejected,
}

/// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
pub(crate) fn parse(raw: &[u8], empty_port: EmptyPort) -> Result<Authority, AuthorityError> {
    let (host, port) = if let Some(rest) = raw.strip_prefix(b"[") {
        let close = rest
            .iter()
            .position(|&b| b == b']')
            .ok_or(AuthorityError::Syntax)?;
        let (inside, after) = rest.split_at(close);
        let after = after.get(1..).unwrap_or_default();
        if !inside.contains(&b':') {
            // Brackets hold IPv6 literals only (IPvFuture is not supported).
            return Err(AuthorityError::Syntax);
        }
        let port = match after {
            [] => None,
            [b':', digits @ ..] => Some(digits),
            _ => return Err(AuthorityError::Syntax),
        };
        (inside, port)
    } else {
        match raw.iter().rposition(|&b| b == b':') {
            Some(colon) => {
                let (host, port) = raw.split_at(colon);
                if host.contains(&b':') {
                    // A bare IPv6 literal without brackets is ambiguous.
                    return Err(AuthorityError::Syntax);
                }
                (host, Some(port.get(1..).unwrap_or_default()))
            }
            None => (raw, None),
        }
    };
    let port = match port {
        None => None,
        Some([]) if empty_port == EmptyPort::Allowed => None,
        Some(digits) => Some(parse_port(digits).ok_or(AuthorityError::Syntax)?),
    };
    let host = Hostname::parse(host).map_err(AuthorityError::Host)?;
    Ok(Authority { host, port })
}

/// Parses a decimal TCP port: 1 to 5 ASCII digits, value at most 65535.
/// Signs, spaces and other bytes are rejected; 0 is accepted here and
/// rejected by callers that need a connectable port.
pub(crate) fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(raw: &[u8], empty: EmptyPort) -> String {
        match parse(raw, empty) {
            Ok(a) => format!("{} {:?}", a.host, a.port),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn host_and_port_forms() {
        let a = EmptyPort::Allowed;
        assert_eq!(show(b"Example.org", a), "example.org None");
        assert_eq!(show(b"example.org:8080", a), "example.org Some(8080)");
        assert_eq!(show(b"example.org:", a), "example.org None");
        assert_eq!(show(b"example.org:", EmptyPort::Rejected), "Syntax");
        assert_eq!(show(b"[::1]:8080", a), "::1 Some(8080)");
        assert_eq!(show(b"[2001:DB8::1]", a), "2001:db8::1 None");
        assert_eq!(show(b"192.0.2.1:22", a), "192.0.2.1 Some(22)");
    }

    #[test]
    fn malformed_authorities() {
        let a = EmptyPort::Allowed;
        assert_eq!(show(b"::1", a), "Syntax");
        assert_eq!(show(b"[::1", a), "Syntax");
        assert_eq!(show(b"[::1]x", a), "Syntax");
        assert_eq!(show(b"[example.org]", a), "Syntax");
        assert_eq!(show(b"example.org:65536", a), "Syntax");
        assert_eq!(show(b"example.org:+80", a), "Syntax");
        assert_eq!(show(b"example.org:080080", a), "Syntax");
        assert_eq!(show(b"user@example.org", a), "Host(BadLabel)");
        assert_eq!(show(b"", a), "Host(Empty)");
        assert_eq!(show(b":80", a), "Host(Empty)");
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(b"0"), Some(0));
        assert_eq!(parse_port(b"65535"), Some(65535));
        assert_eq!(parse_port(b"00443"), Some(443));
        assert_eq!(parse_port(b"65536"), None);
        assert_eq!(parse_port(b""), None);
        assert_eq!(parse_port(b"1 "), None);
    }
}
