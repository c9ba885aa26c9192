//! Version Negotiation (RFC 9000 §6, §17.2.1): the answer to a client that
//! opens with a QUIC version the gateway cannot read.

use super::MIN_INITIAL_DATAGRAM;
use super::header::{self, VERSION_1, VERSION_2, Version};

/// The first byte of the answer: the long-header bit, and the unused bit
/// 0x40 set so that it looks like a fixed bit (RFC 9000 §17.2.1).
const FIRST_BYTE: u8 = 0xc0;

/// Builds the Version Negotiation packet answering `datagram`, listing QUIC
/// v1 and v2, with the client's connection IDs swapped (its Source
/// Connection ID as our Destination, and back).
///
/// Returns `None`, and nothing must be sent, unless `datagram` starts with a
/// long header of a non-zero version other than v1 and v2 and is at least
/// 1200 bytes long (the size of a client's first datagram; RFC 9000 §14.1
/// lets a server ignore shorter ones, which keeps the answer from
/// amplifying spoofed traffic). A Version Negotiation packet (version 0) is
/// never answered.
pub fn version_negotiation(datagram: &[u8]) -> Option<Vec<u8>> {
    if datagram.len() < MIN_INITIAL_DATAGRAM {
        return None;
    }
    let long = header::invariant(datagram)?;
    if long.version == 0 || Version::from_wire(long.version).is_some() {
        return None;
    }
    let mut out = Vec::with_capacity(7 + long.dcid.len() + long.scid.len() + 8);
    out.push(FIRST_BYTE);
    out.extend_from_slice(&0u32.to_be_bytes());
    // Both IDs were read behind one-byte lengths, so their lengths fit.
    out.push(u8::try_from(long.scid.len()).ok()?);
    out.extend_from_slice(long.scid);
    out.push(u8::try_from(long.dcid.len()).ok()?);
    out.extend_from_slice(long.dcid);
    out.extend_from_slice(&VERSION_1.to_be_bytes());
    out.extend_from_slice(&VERSION_2.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long-header datagram of `version` with these IDs, padded to `len`.
    fn datagram(version: u32, dcid: &[u8], scid: &[u8], len: usize) -> Vec<u8> {
        let mut d = vec![0xc3];
        d.extend_from_slice(&version.to_be_bytes());
        d.push(u8::try_from(dcid.len()).unwrap());
        d.extend_from_slice(dcid);
        d.push(u8::try_from(scid.len()).unwrap());
        d.extend_from_slice(scid);
        d.resize(len, 0x5a);
        d
    }

    #[test]
    fn answers_an_unknown_version_with_ids_swapped() {
        let d = datagram(0x1a2a_3a4a, &[1, 2, 3, 4, 5, 6, 7, 8], &[9, 9], 1200);
        let vn = version_negotiation(&d).unwrap();
        let mut expected = vec![0xc0, 0, 0, 0, 0, 2, 9, 9, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        expected.extend_from_slice(&[0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf]);
        assert_eq!(vn, expected);
        // Unknown versions may carry IDs longer than 20 bytes.
        let long = datagram(0xff00_001d, &[7; 255], &[], 1300);
        let vn = version_negotiation(&long).unwrap();
        assert_eq!(vn.get(5..7), Some(&[0, 255][..]));
        assert_eq!(vn.len(), 7 + 255 + 8);
    }

    #[test]
    fn stays_silent_otherwise() {
        let ids = ([1u8; 8], [2u8; 4]);
        for version in [0, VERSION_1, VERSION_2] {
            assert_eq!(
                version_negotiation(&datagram(version, &ids.0, &ids.1, 1200)),
                None
            );
        }
        assert_eq!(
            version_negotiation(&datagram(0x0a0a_0a0a, &ids.0, &ids.1, 1199)),
            None
        );
        let mut short = datagram(0x0a0a_0a0a, &ids.0, &ids.1, 1200);
        short[0] = 0x40;
        assert_eq!(version_negotiation(&short), None);
    }
}
