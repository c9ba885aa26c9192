//! Field encodings shared by the stream-header and control codecs: peeking
//! a fixed-size prefix without consuming it, and socket addresses.

use std::io::IoSlice;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::{Buf, BufMut};

/// The version of the link protocol this build speaks: the stream header's
/// version byte and the version a Hello announces.
pub const HEADER_VERSION: u8 = 1;

/// Address family byte for IPv4.
pub(crate) const FAMILY_V4: u8 = 4;
/// Address family byte for IPv6.
pub(crate) const FAMILY_V6: u8 = 6;

/// The most chunks [`peek`] looks through to assemble a prefix.
const PEEK_CHUNKS: usize = 8;

/// Copies the first `N` bytes of `buf` without consuming them.
///
/// Returns `None` when fewer than `N` bytes are reachable through
/// [`Buf::chunks_vectored`]; every `Buf` in `bytes` and `std` (slices,
/// `Bytes`, `BytesMut`, `VecDeque`, `Chain`, `Take`) exposes them all.
pub(crate) fn peek<const N: usize>(buf: &impl Buf) -> Option<[u8; N]> {
    if buf.remaining() < N {
        return None;
    }
    let mut out = [0u8; N];
    let mut slices = [IoSlice::new(&[]); PEEK_CHUNKS];
    let filled = buf.chunks_vectored(&mut slices);
    let mut at = 0;
    for slice in slices.iter().take(filled) {
        for (dst, src) in out.iter_mut().skip(at).zip(slice.iter()) {
            *dst = *src;
            at += 1;
        }
        if at == N {
            return Some(out);
        }
    }
    None
}

/// Why an address field could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrError {
    /// The family byte is neither 4 nor 6.
    Family(u8),
    /// The field runs past the end of the frame.
    Truncated,
}

/// Writes `addr` as family byte, IP address and big-endian port.
///
/// The IPv6 flow label and scope id are not carried.
pub(crate) fn put_addr(buf: &mut impl BufMut, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            buf.put_u8(FAMILY_V4);
            buf.put_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            buf.put_u8(FAMILY_V6);
            buf.put_slice(&ip.octets());
        }
    }
    buf.put_u16(addr.port());
}

/// The encoded length of `addr` in bytes.
pub(crate) fn addr_len(addr: SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    }
}

/// Reads an address written by [`put_addr`].
pub(crate) fn get_addr(buf: &mut impl Buf) -> Result<SocketAddr, AddrError> {
    if buf.remaining() < 1 {
        return Err(AddrError::Truncated);
    }
    match buf.get_u8() {
        FAMILY_V4 => {
            let mut octets = [0u8; 4];
            get_array(buf, &mut octets)?;
            let port = get_u16(buf)?;
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(octets),
                port,
            )))
        }
        FAMILY_V6 => {
            let mut octets = [0u8; 16];
            get_array(buf, &mut octets)?;
            let port = get_u16(buf)?;
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port,
                0,
                0,
            )))
        }
        other => Err(AddrError::Family(other)),
    }
}

/// Fills `out` from `buf`, or fails without reading if `buf` is too short.
fn get_array(buf: &mut impl Buf, out: &mut [u8]) -> Result<(), AddrError> {
    if buf.remaining() < out.len() {
        return Err(AddrError::Truncated);
    }
    buf.copy_to_slice(out);
    Ok(())
}

/// Reads a big-endian `u16`, or fails without reading if `buf` is too short.
fn get_u16(buf: &mut impl Buf) -> Result<u16, AddrError> {
    if buf.remaining() < 2 {
        return Err(AddrError::Truncated);
    }
    Ok(buf.get_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_reads_across_chunks_without_consuming() {
        let first: &[u8] = &[1];
        let second: &[u8] = &[2, 3, 4];
        let chained = first.chain(second);
        assert_eq!(peek::<3>(&chained), Some([1, 2, 3]));
        assert_eq!(chained.remaining(), 4);
        assert_eq!(peek::<5>(&chained), None);
    }

    #[test]
    fn addresses_round_trip() {
        for addr in [
            "192.0.2.1:443",
            "[2001:db8::1]:65535",
            "[::ffff:192.0.2.1]:1",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut out = Vec::new();
            put_addr(&mut out, addr);
            assert_eq!(out.len(), addr_len(addr));
            assert_eq!(get_addr(&mut out.as_slice()), Ok(addr));
        }
    }

    #[test]
    fn bad_family_and_truncation_are_reported() {
        assert_eq!(get_addr(&mut &[5u8, 1, 2][..]), Err(AddrError::Family(5)));
        assert_eq!(
            get_addr(&mut &[4u8, 1, 2, 3, 4, 0][..]),
            Err(AddrError::Truncated)
        );
        assert_eq!(get_addr(&mut &[][..]), Err(AddrError::Truncated));
    }
}
