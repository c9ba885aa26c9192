//! PROXY protocol headers (HAProxy spec, versions 1 and 2): parsed in front
//! of the client's bytes when a trusted balancer sends them, and encoded in
//! front of the bytes the gateway forwards to a backend.
//!
//! Not part of `detect`: the gateway calls [`parse`] first on
//! listeners that accept PROXY headers, and [`could_be_proxy`] on the others
//! to refuse a header from an untrusted source.
//!
//! - v1: `PROXY TCP4|TCP6 src dst sport dport\r\n` (single spaces, addresses
//!   of the named family, decimal ports) or `PROXY UNKNOWN…\r\n`; at most
//!   107 bytes (`MAX_V1_LEN`) including CRLF.
//! - v2: the 12-byte signature, version 2, command LOCAL or PROXY, then
//!   family/protocol AF_INET or AF_INET6 with STREAM (or AF_UNSPEC), a 16-bit
//!   length; TLVs after the addresses are skipped. The whole header is at
//!   most [`MAX_V2_LEN`] bytes. LOCAL (health checks) and AF_UNSPEC carry no
//!   addresses. UNIX sockets and datagrams are refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::authority::parse_port;
use crate::types::Status;

/// The v1 signature.
pub(crate) const V1_SIGNATURE: &[u8; 6] = b"PROXY ";
/// The v2 signature.
pub(crate) const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included (the spec's worst case, TCP6).
pub(crate) const MAX_V1_LEN: usize = 107;
/// The longest v2 header accepted: the 16-byte fixed part plus 1024 bytes of
/// addresses (36 for TCP6) and TLVs (a balancer's SNI, unique ID, TLS details).
pub const MAX_V2_LEN: usize = 16 + 1024;
/// The fixed part of a v2 header.
const V2_HEADER_LEN: usize = 16;

/// Addresses a PROXY header carried, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address; `None` for v2 LOCAL, AF_UNSPEC or v1 UNKNOWN.
    pub source: Option<SocketAddr>,
    /// The address the client connected to; `None` when `source` is.
    pub destination: Option<SocketAddr>,
    /// The header's length in bytes; the client's own bytes follow it.
    pub consume: usize,
}

/// Why bytes are not an acceptable PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The bytes start with neither signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// A v1 line that does not follow the grammar.
    #[error("invalid PROXY v1 line")]
    V1Syntax,
    /// A v1 line with no CRLF within 107 bytes.
    #[error("PROXY v1 line longer than 107 bytes")]
    V1TooLong,
    /// A v2 header with a version other than 2.
    #[error("unsupported PROXY v2 version")]
    V2Version,
    /// A v2 command other than LOCAL or PROXY.
    #[error("unknown PROXY v2 command")]
    V2Command,
    /// A v2 family or transport other than TCP over IPv4/IPv6 or unspecified.
    #[error("unsupported PROXY v2 address family or protocol")]
    V2Unsupported,
    /// A v2 address block shorter than its family needs.
    #[error("PROXY v2 address block too short")]
    V2Addresses,
    /// A v2 header longer than [`MAX_V2_LEN`].
    #[error("PROXY v2 header longer than the limit")]
    V2TooLong,
}

/// Parses a PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Status<ProxyHeader>, ProxyError> {
    if is_prefix_of_or_starts_with(buf, V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if is_prefix_of_or_starts_with(buf, V1_SIGNATURE) {
        return parse_v1(buf);
    }
    Err(ProxyError::NotProxy)
}

/// Whether the bytes so far could start a PROXY header (v1 or v2): they are
/// a prefix of a signature or start with one. True for an empty buffer.
pub fn could_be_proxy(buf: &[u8]) -> bool {
    is_prefix_of_or_starts_with(buf, V1_SIGNATURE) || is_prefix_of_or_starts_with(buf, V2_SIGNATURE)
}

/// Whether `buf` and `signature` agree on their common length.
fn is_prefix_of_or_starts_with(buf: &[u8], signature: &[u8]) -> bool {
    let n = buf.len().min(signature.len());
    buf.get(..n) == signature.get(..n)
}

/// Parses a v1 line.
fn parse_v1(buf: &[u8]) -> Result<Status<ProxyHeader>, ProxyError> {
    let window = buf.get(..MAX_V1_LEN).unwrap_or(buf);
    let end = window.iter().position(|&b| b == b'\n');
    // Only printable ASCII and the CR of the line end may come before LF.
    let body = window
        .get(V1_SIGNATURE.len()..end.unwrap_or(window.len()))
        .unwrap_or_default();
    if body
        .iter()
        .any(|&b| !(0x20..0x7f).contains(&b) && b != b'\r')
    {
        return Err(ProxyError::V1Syntax);
    }
    let Some(lf) = end else {
        return if buf.len() >= MAX_V1_LEN {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(Status::Partial)
        };
    };
    let fields = body.strip_suffix(b"\r").ok_or(ProxyError::V1Syntax)?;
    let consume = lf + 1;
    if fields == b"UNKNOWN" || fields.starts_with(b"UNKNOWN ") {
        return Ok(Status::Complete(ProxyHeader {
            source: None,
            destination: None,
            consume,
        }));
    }
    let text = std::str::from_utf8(fields).map_err(|_| ProxyError::V1Syntax)?;
    let parts: Vec<&str> = text.split(' ').collect();
    let [family, src, dst, sport, dport] = parts.as_slice() else {
        return Err(ProxyError::V1Syntax);
    };
    let (src, dst): (IpAddr, IpAddr) = match *family {
        "TCP4" => (
            v1_ip::<Ipv4Addr>(src)?.into(),
            v1_ip::<Ipv4Addr>(dst)?.into(),
        ),
        "TCP6" => (
            v1_ip::<Ipv6Addr>(src)?.into(),
            v1_ip::<Ipv6Addr>(dst)?.into(),
        ),
        _ => return Err(ProxyError::V1Syntax),
    };
    let sport = parse_port(sport.as_bytes()).ok_or(ProxyError::V1Syntax)?;
    let dport = parse_port(dport.as_bytes()).ok_or(ProxyError::V1Syntax)?;
    Ok(Status::Complete(ProxyHeader {
        source: Some(SocketAddr::new(src, sport)),
        destination: Some(SocketAddr::new(dst, dport)),
        consume,
    }))
}

/// Parses one v1 address of the family the line named.
fn v1_ip<T: std::str::FromStr>(s: &str) -> Result<T, ProxyError> {
    s.parse().map_err(|_| ProxyError::V1Syntax)
}

/// Parses a v2 header.
fn parse_v2(buf: &[u8]) -> Result<Status<ProxyHeader>, ProxyError> {
    let Some((fixed, rest)) = buf.split_first_chunk::<V2_HEADER_LEN>() else {
        return Ok(Status::Partial);
    };
    let [.., ver_cmd, fam, len_hi, len_lo] = *fixed;
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::V2Version);
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyError::V2Command),
    };
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let consume = V2_HEADER_LEN + len;
    if consume > MAX_V2_LEN {
        return Err(ProxyError::V2TooLong);
    }
    let Some(block) = rest.get(..len) else {
        return Ok(Status::Partial);
    };
    if local {
        return Ok(Status::Complete(ProxyHeader {
            source: None,
            destination: None,
            consume,
        }));
    }
    let (source, destination) = match fam {
        0x00 => (None, None),
        0x11 => {
            let (&[a, b, c, d, e, f, g, h, sp0, sp1, dp0, dp1], _) = block
                .split_first_chunk::<12>()
                .ok_or(ProxyError::V2Addresses)?;
            (
                Some(SocketAddr::from((
                    [a, b, c, d],
                    u16::from_be_bytes([sp0, sp1]),
                ))),
                Some(SocketAddr::from((
                    [e, f, g, h],
                    u16::from_be_bytes([dp0, dp1]),
                ))),
            )
        }
        0x21 => {
            let (addrs, _) = block
                .split_first_chunk::<36>()
                .ok_or(ProxyError::V2Addresses)?;
            let (src, rest) = addrs
                .split_first_chunk::<16>()
                .ok_or(ProxyError::V2Addresses)?;
            let (dst, ports) = rest
                .split_first_chunk::<16>()
                .ok_or(ProxyError::V2Addresses)?;
            let &[sp0, sp1, dp0, dp1] = ports else {
                return Err(ProxyError::V2Addresses);
            };
            (
                Some(SocketAddr::from((*src, u16::from_be_bytes([sp0, sp1])))),
                Some(SocketAddr::from((*dst, u16::from_be_bytes([dp0, dp1])))),
            )
        }
        _ => return Err(ProxyError::V2Unsupported),
    };
    Ok(Status::Complete(ProxyHeader {
        source,
        destination,
        consume,
    }))
}

/// The pair as one family: both IPv4, or both IPv6 (IPv4 mapped).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    match (src, dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            (src, dst)
        }
        _ => (to_v6(src), to_v6(dst)),
    }
}

/// The address with an IPv4 address mapped into IPv6.
fn to_v6(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), addr.port()),
        IpAddr::V6(_) => addr,
    }
}

/// Encodes a v1 header (`TCP4` for two IPv4 addresses, else `TCP6`, with any
/// IPv4 address mapped into IPv6). Callers normalise IPv4-mapped IPv6
/// addresses to IPv4 first if they want `TCP4`.
pub fn encode_v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(src, dst);
    let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// Encodes a v2 PROXY-command header with no TLVs (AF_INET for two IPv4
/// addresses, else AF_INET6 with any IPv4 address mapped into IPv6).
pub fn encode_v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(src, dst);
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21); // version 2, PROXY
    if src.is_ipv4() {
        out.extend_from_slice(&[0x11, 0x00, 12]);
    } else {
        out.extend_from_slice(&[0x21, 0x00, 36]);
    }
    push_ip(&mut out, src.ip());
    push_ip(&mut out, dst.ip());
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out
}

/// Appends an address's octets.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
}

#[cfg(test)]
mod tests;
