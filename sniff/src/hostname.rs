//! Hostnames as routes see them: ASCII lower-case, no trailing dot,
//! labels of letters, digits and hyphens, or an IP literal.
//!
//! Rules applied by [`Hostname::parse`], in this order:
//! - exactly one trailing dot is stripped (`example.org.` → `example.org`);
//!   what remains must not be empty;
//! - a name containing `:` must be an IPv6 literal *without* brackets (callers
//!   strip them) and without a zone (`%eth0`); it is stored in Rust's canonical
//!   [`std::net::Ipv6Addr`] display form (`2001:DB8:0:0::1` → `2001:db8::1`);
//! - a name that is a dotted-quad IPv4 address (`192.0.2.1`, no leading zeros)
//!   is kept as such;
//! - anything else is a DNS name: ASCII letters are lower-cased; at most 253
//!   bytes; labels of 1–63 bytes of `a-z`, `0-9` and `-`, neither starting nor
//!   ending with `-` (no underscore, no other byte); the last label must not be
//!   all digits, so that `127.1` or `1.2.3.300` is never taken for a name that a
//!   resolver or backend might read as an address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The longest DNS name accepted, in bytes, without the trailing dot.
pub(crate) const MAX_NAME_LEN: usize = 253;
/// The longest DNS label accepted, in bytes.
pub(crate) const MAX_LABEL_LEN: usize = 63;
/// The longest input [`Hostname::parse`] considers as an IP literal; longer
/// input with a `:` is rejected without parsing (an IPv6 text form is at most
/// 45 bytes).
const MAX_IP_LITERAL_LEN: usize = 45;

/// A validated, normalised hostname or IP literal (IPv6 without brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(Box<str>);

/// Why a byte string is not a hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    /// Empty (or only a dot).
    #[error("empty hostname")]
    Empty,
    /// Longer than 253 bytes (`MAX_NAME_LEN`).
    #[error("hostname longer than 253 bytes")]
    TooLong,
    /// Two dots in a row, or a leading dot.
    #[error("hostname has an empty label")]
    EmptyLabel,
    /// A label longer than 63 bytes (`MAX_LABEL_LEN`).
    #[error("hostname label longer than 63 bytes")]
    LabelTooLong,
    /// A label holds a byte other than a letter, digit or hyphen, or starts
    /// or ends with a hyphen.
    #[error("hostname label is not letters, digits and inner hyphens")]
    BadLabel,
    /// The last label is all digits but the name is not a dotted-quad IPv4 address.
    #[error("hostname looks numeric but is not an IPv4 address")]
    NumericName,
    /// Contains `:` but is not an IPv6 address (brackets, zone, bad syntax).
    #[error("invalid IPv6 literal")]
    BadIpv6,
}

impl Hostname {
    /// Validates and normalises `raw` (see the module docs for the rules).
    pub fn parse(raw: &[u8]) -> Result<Hostname, HostnameError> {
        let name = match raw.strip_suffix(b".") {
            Some(stripped) => stripped,
            None => raw,
        };
        if name.is_empty() {
            return Err(HostnameError::Empty);
        }
        if name.contains(&b':') {
            return parse_ipv6(name);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(HostnameError::TooLong);
        }
        let mut last_label_numeric = false;
        for label in name.split(|&b| b == b'.') {
            check_label(label)?;
            last_label_numeric = label.iter().all(u8::is_ascii_digit);
        }
        if last_label_numeric {
            // Only a canonical dotted quad may end in a numeric label.
            let text = std::str::from_utf8(name).map_err(|_| HostnameError::BadLabel)?;
            return match Ipv4Addr::from_str(text) {
                Ok(ip) => Ok(Hostname(ip.to_string().into_boxed_str())),
                Err(_) => Err(HostnameError::NumericName),
            };
        }
        let lower: String = name
            .iter()
            .map(|&b| char::from(b.to_ascii_lowercase()))
            .collect();
        Ok(Hostname(lower.into_boxed_str()))
    }

    /// Validates and normalises a string (same rules as [`Hostname::parse`]).
    pub fn parse_str(raw: &str) -> Result<Hostname, HostnameError> {
        Hostname::parse(raw.as_bytes())
    }

    /// The hostname of an IP address (IPv6 in canonical form, without brackets).
    pub fn from_ip(ip: IpAddr) -> Hostname {
        Hostname(ip.to_string().into_boxed_str())
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is an IPv4 or IPv6 literal rather than a DNS name.
    pub(crate) fn is_ip(&self) -> bool {
        self.ip().is_some()
    }

    /// The address, when this is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        // DNS names never parse as addresses: they contain no `:` and their
        // last label is never all digits.
        IpAddr::from_str(&self.0).ok()
    }
}

/// Checks one DNS label (already split on dots).
fn check_label(label: &[u8]) -> Result<(), HostnameError> {
    if label.is_empty() {
        return Err(HostnameError::EmptyLabel);
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(HostnameError::LabelTooLong);
    }
    if !label
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(HostnameError::BadLabel);
    }
    if label.starts_with(b"-") || label.ends_with(b"-") {
        return Err(HostnameError::BadLabel);
    }
    Ok(())
}

/// Parses an IPv6 literal given without brackets.
fn parse_ipv6(name: &[u8]) -> Result<Hostname, HostnameError> {
    if name.len() > MAX_IP_LITERAL_LEN {
        return Err(HostnameError::BadIpv6);
    }
    let text = std::str::from_utf8(name).map_err(|_| HostnameError::BadIpv6)?;
    let ip = Ipv6Addr::from_str(text).map_err(|_| HostnameError::BadIpv6)?;
    Ok(Hostname(ip.to_string().into_boxed_str()))
}

impl FromStr for Hostname {
    type Err = HostnameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hostname::parse_str(s)
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Hostname {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        match Hostname::parse_str(raw) {
            Ok(h) => h.to_string(),
            Err(e) => format!("error: {e:?}"),
        }
    }

    fn err(raw: &[u8]) -> HostnameError {
        match Hostname::parse(raw) {
            Ok(h) => panic!("{raw:?} parsed as {h}"),
            Err(e) => e,
        }
    }

    #[test]
    fn names_are_lower_cased_and_lose_one_trailing_dot() {
        assert_eq!(ok("Example.ORG"), "example.org");
        assert_eq!(ok("example.org."), "example.org");
        assert_eq!(ok("a-b.c0.x"), "a-b.c0.x");
        assert_eq!(ok("localhost"), "localhost");
        assert_eq!(ok("0x1.example"), "0x1.example");
        assert_eq!(err(b"example.org.."), HostnameError::EmptyLabel);
        assert_eq!(err(b"."), HostnameError::Empty);
        assert_eq!(err(b""), HostnameError::Empty);
    }

    #[test]
    fn bad_labels_are_rejected() {
        assert_eq!(err(b".example.org"), HostnameError::EmptyLabel);
        assert_eq!(err(b"a..b"), HostnameError::EmptyLabel);
        assert_eq!(err(b"_dmarc.example.org"), HostnameError::BadLabel);
        assert_eq!(err(b"ex ample.org"), HostnameError::BadLabel);
        assert_eq!(err(b"exa\xc3\xa9mple.org"), HostnameError::BadLabel);
        assert_eq!(err(b"a*.org"), HostnameError::BadLabel);
        assert_eq!(err(b"-a.org"), HostnameError::BadLabel);
        assert_eq!(err(b"a-.org"), HostnameError::BadLabel);
        assert_eq!(err(b"a/b"), HostnameError::BadLabel);
    }

    #[test]
    fn lengths_are_capped() {
        let label63 = "a".repeat(63);
        assert_eq!(ok(&format!("{label63}.org")), format!("{label63}.org"));
        assert_eq!(
            err(format!("{}.org", "a".repeat(64)).as_bytes()),
            HostnameError::LabelTooLong
        );
        // 4 labels of 63 + 3 dots = 255 > 253; 253 bytes exactly is fine.
        let long = [label63.as_str(); 4].join(".");
        assert_eq!(err(long.as_bytes()), HostnameError::TooLong);
        let exact = format!("{}.{}.{}.{}", label63, label63, label63, "a".repeat(61));
        assert_eq!(exact.len(), 253);
        assert_eq!(ok(&exact), exact);
        assert_eq!(ok(&format!("{exact}.")), exact);
    }

    #[test]
    fn ip_literals_are_normalised() {
        assert_eq!(ok("192.0.2.1"), "192.0.2.1");
        assert_eq!(ok("192.0.2.1."), "192.0.2.1");
        assert_eq!(ok("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
        assert_eq!(ok("::FFFF:192.0.2.1"), "::ffff:192.0.2.1");
        assert_eq!(ok("::1"), "::1");
        assert!(
            Hostname::parse_str("::1")
                .map(|h| h.is_ip())
                .unwrap_or(false)
        );
        assert!(
            Hostname::parse_str("10.0.0.1")
                .map(|h| h.is_ip())
                .unwrap_or(false)
        );
        assert!(
            !Hostname::parse_str("example.org")
                .map(|h| h.is_ip())
                .unwrap_or(true)
        );
        assert_eq!(
            Hostname::from_ip("2001:db8::1".parse().unwrap_or(IpAddr::from([0u8; 4]))).as_str(),
            "2001:db8::1"
        );
    }

    #[test]
    fn bad_ip_literals_and_numeric_names_are_rejected() {
        assert_eq!(err(b"[::1]"), HostnameError::BadIpv6);
        assert_eq!(err(b"fe80::1%eth0"), HostnameError::BadIpv6);
        assert_eq!(err(b"example.org:80"), HostnameError::BadIpv6);
        assert_eq!(err(b"1:2:3:4:5:6:7:8:9"), HostnameError::BadIpv6);
        assert_eq!(err(b"127.1"), HostnameError::NumericName);
        assert_eq!(err(b"1.2.3.300"), HostnameError::NumericName);
        assert_eq!(err(b"01.2.3.4"), HostnameError::NumericName);
        assert_eq!(err(b"1234"), HostnameError::NumericName);
        assert_eq!(ok("1.2.3.example"), "1.2.3.example");
    }

    #[test]
    fn display_as_ref_and_from_str_agree() {
        let h: Hostname = match "WWW.Example.org".parse() {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(h.as_ref(), "www.example.org");
        assert_eq!(h.as_str(), "www.example.org");
        assert_eq!(format!("{h}"), "www.example.org");
    }
}
