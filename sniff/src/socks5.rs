//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929): the
//! greeting that `detect` recognises, the two messages that follow it, and
//! the gateway's answers.
//!
//! The gateway's side of the exchange, after `detect` returned
//! [`crate::Protocol::Socks5`] and consumed the greeting:
//! 1. answer [`method_selection`] with [`USER_PASSWORD`], [`NO_AUTH`] or
//!    [`NO_ACCEPTABLE`] (then close), chosen from the [`Greeting`];
//! 2. after `USER_PASSWORD`, read [`parse_auth`] and answer [`auth_reply`]
//!    (close after a failure);
//! 3. read [`parse_request`] and answer [`reply`] with a reply code; on a
//!    [`Socks5Error`], answer its [`Socks5Error::reply_code`] if it has one,
//!    then close.
//!
//! Grammars, all binary and bounded by their length bytes:
//! - greeting: `05 NMETHODS METHODS…`, NMETHODS 1–255 (at most 257 bytes);
//! - auth: `01 ULEN UNAME PLEN PASSWD`, ULEN and PLEN 1–255, UNAME UTF-8
//!   (at most 513 bytes);
//! - request: `05 CMD 00 ATYP DST.ADDR DST.PORT`, CMD 1 (CONNECT), ATYP 1
//!   (4-byte IPv4), 3 (1–255 bytes of name, validated as a
//!   [`Hostname`]) or 4 (16-byte IPv6), port 1–65535 (at most 262 bytes).
//!
//! Like every parser in this crate, each returns [`Status::Partial`] on a
//! prefix of a valid message and an error as soon as a byte rules it out, so
//! its answer does not depend on how the bytes were split across reads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::hostname::{Hostname, HostnameError};
use crate::target::{Credentials, ProxyTarget};
use crate::types::{Detection, Malformed, Protocol, Status, Verdict};

/// The SOCKS protocol version byte.
const VERSION: u8 = 0x05;
/// The username/password sub-negotiation version byte (RFC 1929).
const AUTH_VERSION: u8 = 0x01;
/// The CONNECT command.
const CMD_CONNECT: u8 = 0x01;
/// Address type: IPv4.
const ATYP_IPV4: u8 = 0x01;
/// Address type: a domain name.
const ATYP_DOMAIN: u8 = 0x03;
/// Address type: IPv6.
const ATYP_IPV6: u8 = 0x04;

/// The longest greeting: version, count and 255 methods.
pub(crate) const MAX_GREETING: usize = 2 + 255;

/// Method: no authentication required.
pub const NO_AUTH: u8 = 0x00;
/// Method: username/password (RFC 1929).
pub const USER_PASSWORD: u8 = 0x02;
/// Method selection: none of the offered methods is acceptable.
pub const NO_ACCEPTABLE: u8 = 0xff;

/// Reply: succeeded.
pub const SUCCEEDED: u8 = 0x00;
/// Reply: general SOCKS server failure.
pub const GENERAL_FAILURE: u8 = 0x01;
/// Reply: connection not allowed by ruleset.
pub const NOT_ALLOWED: u8 = 0x02;
/// Reply: network unreachable.
pub const NETWORK_UNREACHABLE: u8 = 0x03;
/// Reply: host unreachable.
pub const HOST_UNREACHABLE: u8 = 0x04;
/// Reply: connection refused.
pub const CONNECTION_REFUSED: u8 = 0x05;
/// Reply: command not supported.
pub const COMMAND_NOT_SUPPORTED: u8 = 0x07;
/// Reply: address type not supported.
pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;

/// The authentication methods a client's greeting offered, among those the
/// gateway can use (others are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Greeting {
    /// [`NO_AUTH`] was offered.
    pub no_auth: bool,
    /// [`USER_PASSWORD`] was offered.
    pub user_password: bool,
}

/// A SOCKS5 CONNECT request: where the client wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The host: a name, or an address (ATYP 1 or 4, or a name that is an
    /// IP literal).
    pub target: ProxyTarget,
    /// The port (1 to 65535).
    pub port: u16,
}

/// Why a SOCKS5 authentication or request message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Socks5Error {
    /// The sub-negotiation does not start with version 1.
    #[error("SOCKS5 authentication version is not 1")]
    AuthVersion,
    /// ULEN is 0.
    #[error("SOCKS5 authentication with an empty user name")]
    EmptyUser,
    /// The user name is not UTF-8.
    #[error("SOCKS5 user name is not UTF-8")]
    UserNotUtf8,
    /// PLEN is 0.
    #[error("SOCKS5 authentication with an empty password")]
    EmptyPassword,
    /// The request does not start with version 5.
    #[error("SOCKS5 request version is not 5")]
    Version,
    /// A command other than CONNECT (BIND 2, UDP ASSOCIATE 3, or unknown).
    #[error("SOCKS5 command {0:#04x} not supported")]
    Command(u8),
    /// The reserved byte is not 0.
    #[error("SOCKS5 request reserved byte is not 0")]
    Reserved,
    /// An address type other than 1, 3 or 4.
    #[error("SOCKS5 address type {0:#04x} not supported")]
    AddressType(u8),
    /// A domain name of length 0.
    #[error("SOCKS5 request with an empty domain name")]
    EmptyName,
    /// A domain name that is not a valid hostname.
    #[error("SOCKS5 request domain: {0}")]
    Name(HostnameError),
    /// Destination port 0.
    #[error("SOCKS5 request for port 0")]
    Port,
}

impl Socks5Error {
    /// The reply code the gateway sends before closing, for request errors;
    /// `None` for authentication errors (answer [`auth_reply`]`(false)`) and
    /// for a request that is not SOCKS5 at all (just close).
    pub fn reply_code(self) -> Option<u8> {
        match self {
            Socks5Error::AuthVersion
            | Socks5Error::EmptyUser
            | Socks5Error::UserNotUtf8
            | Socks5Error::EmptyPassword
            | Socks5Error::Version => None,
            Socks5Error::Command(_) => Some(COMMAND_NOT_SUPPORTED),
            Socks5Error::AddressType(_) => Some(ADDRESS_TYPE_NOT_SUPPORTED),
            // No route can name an invalid host: answered as a server that
            // cannot resolve it would.
            Socks5Error::Name(_) => Some(HOST_UNREACHABLE),
            Socks5Error::Reserved | Socks5Error::EmptyName | Socks5Error::Port => {
                Some(GENERAL_FAILURE)
            }
        }
    }
}

/// Runs SOCKS5 greeting detection over the bytes so far.
pub(crate) fn sniff(buf: &[u8]) -> Verdict {
    match buf {
        [] => Verdict::Partial,
        [VERSION] => Verdict::Partial,
        [VERSION, 0, ..] => Verdict::Malformed(Malformed::Socks5Greeting),
        [VERSION, n, rest @ ..] => {
            let Some(methods) = rest.get(..usize::from(*n)) else {
                return Verdict::Partial;
            };
            let mut found = Detection::new(Protocol::Socks5, None);
            found.consume = 2 + methods.len();
            found.socks5 = Some(Greeting {
                no_auth: methods.contains(&NO_AUTH),
                user_password: methods.contains(&USER_PASSWORD),
            });
            Verdict::Complete(Box::new(found))
        }
        _ => Verdict::NotMine,
    }
}

/// Reads bytes from the front of a message; `None` when they have not all
/// arrived yet.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
}

/// Returns `Ok(Status::Partial)` from the enclosing parser when the reader
/// ran out of bytes.
macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(Status::Partial),
        }
    };
}

/// Parses the RFC 1929 username/password message at the start of `buf`;
/// returns the credentials and the message's length.
pub fn parse_auth(buf: &[u8]) -> Result<Status<(Credentials, usize)>, Socks5Error> {
    let mut r = Reader::new(buf);
    if need!(r.byte()) != AUTH_VERSION {
        return Err(Socks5Error::AuthVersion);
    }
    let ulen = need!(r.byte());
    if ulen == 0 {
        return Err(Socks5Error::EmptyUser);
    }
    let user = need!(r.bytes(usize::from(ulen)));
    let user = std::str::from_utf8(user).map_err(|_| Socks5Error::UserNotUtf8)?;
    let plen = need!(r.byte());
    if plen == 0 {
        return Err(Socks5Error::EmptyPassword);
    }
    let password = need!(r.bytes(usize::from(plen)));
    let credentials = Credentials {
        user: user.to_owned(),
        password: password.to_vec(),
    };
    Ok(Status::Complete((credentials, r.pos)))
}

/// Parses the RFC 1928 request at the start of `buf`; returns the CONNECT
/// target and the request's length.
pub fn parse_request(buf: &[u8]) -> Result<Status<(Request, usize)>, Socks5Error> {
    let mut r = Reader::new(buf);
    if need!(r.byte()) != VERSION {
        return Err(Socks5Error::Version);
    }
    match need!(r.byte()) {
        CMD_CONNECT => {}
        other => return Err(Socks5Error::Command(other)),
    }
    if need!(r.byte()) != 0 {
        return Err(Socks5Error::Reserved);
    }
    let target = match need!(r.byte()) {
        ATYP_IPV4 => ProxyTarget::Ip(IpAddr::V4(Ipv4Addr::from(need!(r.array::<4>())))),
        ATYP_IPV6 => ProxyTarget::Ip(IpAddr::V6(Ipv6Addr::from(need!(r.array::<16>())))),
        ATYP_DOMAIN => {
            let len = need!(r.byte());
            if len == 0 {
                return Err(Socks5Error::EmptyName);
            }
            let name = need!(r.bytes(usize::from(len)));
            ProxyTarget::from_hostname(Hostname::parse(name).map_err(Socks5Error::Name)?)
        }
        other => return Err(Socks5Error::AddressType(other)),
    };
    let port = u16::from_be_bytes(need!(r.array::<2>()));
    if port == 0 {
        return Err(Socks5Error::Port);
    }
    Ok(Status::Complete((Request { target, port }, r.pos)))
}

/// The method-selection message: `05 METHOD`.
pub fn method_selection(method: u8) -> [u8; 2] {
    [VERSION, method]
}

/// The username/password status message: `01 00` on success, `01 01` on
/// failure (after which the gateway closes the connection).
pub fn auth_reply(success: bool) -> [u8; 2] {
    [AUTH_VERSION, if success { 0x00 } else { 0x01 }]
}

/// A reply: `05 CODE 00 ATYP BND.ADDR BND.PORT`, with the bound address
/// `0.0.0.0:0` when `bound` is `None`.
pub fn reply(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let bound = bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut out = vec![VERSION, code, 0x00];
    match bound.ip() {
        IpAddr::V4(ip) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&bound.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests;
