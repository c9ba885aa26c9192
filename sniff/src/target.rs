//! What a proxy client (HTTP `CONNECT`, SOCKS5) asks for: the target it
//! wants reached and the credentials it offered.

use std::fmt;
use std::net::IpAddr;

use crate::hostname::Hostname;

/// The host a proxy client wants to reach; its port travels beside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProxyTarget {
    /// A DNS name, normalised as [`Hostname`] does.
    Name(Hostname),
    /// An IP literal (a `CONNECT` target `192.0.2.1:443` or `[2001:db8::1]:443`,
    /// a SOCKS5 IPv4 or IPv6 address, or a SOCKS5 domain that is an address).
    Ip(IpAddr),
}

impl ProxyTarget {
    /// The target a validated hostname names: [`ProxyTarget::Ip`] for an IP
    /// literal, else [`ProxyTarget::Name`].
    pub fn from_hostname(host: Hostname) -> ProxyTarget {
        match host.ip() {
            Some(ip) => ProxyTarget::Ip(ip),
            None => ProxyTarget::Name(host),
        }
    }

    /// The target as a [`Hostname`] (an IP literal as its text, IPv6 without
    /// brackets), as routes match it.
    pub fn to_hostname(&self) -> Hostname {
        match self {
            ProxyTarget::Name(name) => name.clone(),
            ProxyTarget::Ip(ip) => Hostname::from_ip(*ip),
        }
    }
}

impl fmt::Display for ProxyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyTarget::Name(name) => f.write_str(name.as_str()),
            ProxyTarget::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A user name and password a proxy client offered (HTTP Basic, RFC 7617;
/// SOCKS5 username/password, RFC 1929). `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (UTF-8; names that are not are refused while parsing).
    pub user: String,
    /// The password, as sent (no encoding is assumed).
    pub password: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"MASKED")
            .finish()
    }
}

/// The `Proxy-Authorization` a `CONNECT` request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No `Proxy-Authorization` header, or one with a scheme other than Basic.
    None,
    /// `Basic` credentials that decoded.
    Basic(Credentials),
    /// A `Basic` value that does not decode to `user:password` (bad base64,
    /// no `:`, a user name that is not UTF-8), or more than one
    /// `Proxy-Authorization` header. The gateway answers as for wrong
    /// credentials.
    Invalid,
}

/// An HTTP `CONNECT` request: where to, and with which credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// The host the client wants reached.
    pub target: ProxyTarget,
    /// The port (1 to 65535).
    pub port: u16,
    /// The credentials the request carried.
    pub auth: Auth,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_password() {
        let c = Credentials {
            user: "alice".into(),
            password: b"s3cret".to_vec(),
        };
        let shown = format!("{c:?} {:?}", Auth::Basic(c.clone()));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("115"), "{shown}"); // no byte list either
        assert!(shown.contains("alice") && shown.contains("MASKED"));
    }

    #[test]
    fn targets_from_hostnames() {
        let name = |s: &str| Hostname::parse_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            ProxyTarget::from_hostname(name("Nas.Example.org")),
            ProxyTarget::Name(name("nas.example.org"))
        );
        assert_eq!(
            ProxyTarget::from_hostname(name("192.0.2.7")),
            ProxyTarget::Ip(IpAddr::from([192, 0, 2, 7]))
        );
        let v6 = ProxyTarget::from_hostname(name("2001:DB8::1"));
        assert_eq!(v6.to_string(), "2001:db8::1");
        assert_eq!(v6.to_hostname(), name("2001:db8::1"));
    }
}
