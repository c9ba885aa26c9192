//! QUIC long headers: the version-independent fields (RFC 8999 §5.1), the
//! v1/v2 packet layout (RFC 9000 §17.2, RFC 9369 §3.2) and variable-length
//! integers (RFC 9000 §16).

use super::QuicError;

/// The wire value of QUIC version 1 (RFC 9000).
pub(crate) const VERSION_1: u32 = 0x0000_0001;
/// The wire value of QUIC version 2 (RFC 9369).
pub(crate) const VERSION_2: u32 = 0x6b33_43cf;
/// The longest connection ID of v1 and v2 (RFC 9000 §17.2).
const MAX_CID_LEN: usize = 20;
/// Header Form bit: set on long headers.
pub(crate) const LONG_HEADER: u8 = 0x80;

/// A QUIC version this crate can read Initial packets of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// QUIC version 1.
    V1,
    /// QUIC version 2.
    V2,
}

impl Version {
    /// The version with this wire value, if known.
    pub(crate) fn from_wire(wire: u32) -> Option<Version> {
        match wire {
            VERSION_1 => Some(Version::V1),
            VERSION_2 => Some(Version::V2),
            _ => None,
        }
    }

    /// The Long Packet Type bits (0x30 of the first byte) of this version.
    fn packet_type(self, first: u8) -> PacketType {
        let bits = (first & 0x30) >> 4;
        // RFC 9000 §17.2 table 5; RFC 9369 §3.2 rotates the values by one.
        let v1_bits = match self {
            Version::V1 => bits,
            Version::V2 => bits.wrapping_sub(1) & 0x03,
        };
        match v1_bits {
            0 => PacketType::Initial,
            1 => PacketType::ZeroRtt,
            2 => PacketType::Handshake,
            _ => PacketType::Retry,
        }
    }
}

/// The kind of a v1/v2 long-header packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketType {
    /// An Initial packet: the client's first flight, with Initial keys.
    Initial,
    /// 0-RTT data; skipped.
    ZeroRtt,
    /// A Handshake packet; skipped.
    Handshake,
    /// A Retry packet, which only servers send.
    Retry,
}

/// The fields of a long header that every QUIC version shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invariant<'a> {
    /// The version field (0 for Version Negotiation).
    pub version: u32,
    /// Destination Connection ID (up to 255 bytes).
    pub dcid: &'a [u8],
    /// Source Connection ID (up to 255 bytes).
    pub scid: &'a [u8],
}

/// Reads the version-independent long header at the start of `buf`; `None`
/// for a short header or a truncated one.
pub(crate) fn invariant(buf: &[u8]) -> Option<Invariant<'_>> {
    let mut r = Reader::new(buf);
    let first = r.u8()?;
    if first & LONG_HEADER == 0 {
        return None;
    }
    let version = r.u32()?;
    let dcid = r.vec8()?;
    let scid = r.vec8()?;
    Some(Invariant {
        version,
        dcid,
        scid,
    })
}

/// A v1/v2 long-header packet at the start of a buffer, framed but still
/// protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Packet<'a> {
    /// What kind of packet it is.
    pub kind: PacketType,
    /// Its Destination Connection ID.
    pub dcid: &'a [u8],
    /// Where its Packet Number field starts, from the start of the packet.
    pub pn_offset: usize,
    /// Its whole length: header, packet number and protected payload.
    pub len: usize,
}

/// Frames the long-header packet of `version` at the start of `buf`.
///
/// The first byte must have the long-header bit set and the version field
/// must be `version` (the caller checked both). Errors: [`QuicError::Header`]
/// for a truncated header, a connection ID over 20 bytes or a Length past
/// the end of `buf`; [`QuicError::UnexpectedPacket`] for a Retry packet.
pub(crate) fn packet(buf: &[u8], version: Version) -> Result<Packet<'_>, QuicError> {
    let bad = QuicError::Header;
    let mut r = Reader::new(buf);
    let first = r.u8().ok_or(bad)?;
    r.u32().ok_or(bad)?;
    let dcid = r.vec8().ok_or(bad)?;
    let scid = r.vec8().ok_or(bad)?;
    if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
        return Err(bad);
    }
    let kind = version.packet_type(first);
    match kind {
        PacketType::Retry => return Err(QuicError::UnexpectedPacket),
        PacketType::Initial => {
            let token_len = r.varint().ok_or(bad)?;
            r.bytes(usize::try_from(token_len).map_err(|_| bad)?)
                .ok_or(bad)?;
        }
        PacketType::ZeroRtt | PacketType::Handshake => {}
    }
    let length = usize::try_from(r.varint().ok_or(bad)?).map_err(|_| bad)?;
    let pn_offset = r.pos;
    let len = pn_offset.checked_add(length).ok_or(bad)?;
    if len > buf.len() {
        return Err(bad);
    }
    Ok(Packet {
        kind,
        dcid,
        pn_offset,
        len,
    })
}

/// A cursor over bytes that never reads past their end.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    /// How many bytes were read.
    pub pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// The next byte, without reading it.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.bytes(1)?.first().copied()
    }

    /// A big-endian 32-bit integer.
    fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_be_bytes(b.try_into().ok()?))
    }

    /// A byte string behind a one-byte length.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let len = self.u8()?;
        self.bytes(usize::from(len))
    }

    /// A variable-length integer (RFC 9000 §16): two high bits give its
    /// length, 1, 2, 4 or 8 bytes. Non-minimal encodings are accepted.
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let first = self.u8()?;
        let extra = (1usize << (first >> 6)) - 1;
        let rest = self.bytes(extra)?;
        Some(
            rest.iter()
                .fold(u64::from(first & 0x3f), |acc, &b| acc << 8 | u64::from(b)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_of_rfc_9000_appendix_a1() {
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in cases {
            let mut r = Reader::new(bytes);
            assert_eq!(r.varint(), Some(value));
            assert!(r.is_empty());
        }
        assert_eq!(Reader::new(&[0x40, 0x25]).varint(), Some(37));
        assert_eq!(Reader::new(&[0x80, 0, 0]).varint(), None);
    }

    #[test]
    fn packet_types_of_v1_and_v2() {
        // Initial: 0b00 in v1, 0b01 in v2; Retry: 0b11 in v1, 0b00 in v2.
        assert_eq!(Version::V1.packet_type(0xc0), PacketType::Initial);
        assert_eq!(Version::V2.packet_type(0xd0), PacketType::Initial);
        assert_eq!(Version::V1.packet_type(0xf0), PacketType::Retry);
        assert_eq!(Version::V2.packet_type(0xc0), PacketType::Retry);
        assert_eq!(Version::V2.packet_type(0xe0), PacketType::ZeroRtt);
        assert_eq!(Version::V2.packet_type(0xf0), PacketType::Handshake);
    }

    #[test]
    fn truncated_headers_are_errors() {
        let mut p = vec![0xc0, 0, 0, 0, 1, 8];
        p.extend_from_slice(&[1; 8]);
        p.extend_from_slice(&[0, 0, 0x41]); // no SCID, no token, length 0x100
        assert_eq!(packet(&p, Version::V1), Err(QuicError::Header));
        for cut in 0..p.len() {
            assert!(packet(p.get(..cut).unwrap(), Version::V1).is_err());
        }
        p.push(0);
        p.extend_from_slice(&[0; 0x100]);
        let framed = packet(&p, Version::V1).unwrap();
        assert_eq!(framed.pn_offset, 18);
        assert_eq!(framed.len, p.len());
    }
}
