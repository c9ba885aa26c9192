//! Initial packet protection removal (RFC 9001 §5, RFC 9369 §3.3): keys
//! derived by rustls from the client's Destination Connection ID, then
//! header protection and the AEAD removed with them. No cryptography is
//! written here.

use rustls::quic::{Algorithm, HeaderProtectionKey, Keys, PacketKey};
use rustls::{Side, Tls13CipherSuite, quic};

use super::QuicError;
use super::header::Version;

/// The Packet Number field is sampled as if it were 4 bytes long (RFC 9001
/// §5.4.2).
const PN_SAMPLE_OFFSET: usize = 4;
/// The header protection sample length of AES-based suites.
const SAMPLE_LEN: usize = 16;
/// The first-byte bits header protection covers in a long header: the
/// Reserved Bits and the Packet Number Length.
const RESERVED_BITS: u8 = 0x0c;

/// The cipher suite of Initial packets, TLS_AES_128_GCM_SHA256, and its QUIC
/// algorithm, from rustls's ring provider.
fn initial_suite() -> Option<(&'static Tls13CipherSuite, &'static dyn Algorithm)> {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()?;
    Some((suite, suite.quic?))
}

/// The keys that open a client's Initial packets.
pub(crate) struct ClientInitialKeys {
    header: Box<dyn HeaderProtectionKey>,
    packet: Box<dyn PacketKey>,
}

impl std::fmt::Debug for ClientInitialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientInitialKeys")
    }
}

impl ClientInitialKeys {
    /// Derives the client's Initial keys from the Destination Connection ID
    /// of its first Initial packet, as the server does.
    pub(crate) fn new(version: Version, dcid: &[u8]) -> Option<ClientInitialKeys> {
        let (suite, algorithm) = initial_suite()?;
        let version = match version {
            Version::V1 => quic::Version::V1,
            Version::V2 => quic::Version::V2,
        };
        let keys = Keys::initial(version, suite, algorithm, dcid, Side::Server);
        Some(ClientInitialKeys {
            header: keys.remote.header,
            packet: keys.remote.packet,
        })
    }

    /// Opens a protected Initial `packet` whose Packet Number field starts at
    /// `pn_offset`; `largest` is the largest packet number opened so far in
    /// this flow. `scratch` receives the packet; returns the full packet
    /// number and the plaintext payload (the frames).
    ///
    /// Errors: [`QuicError::Header`] when the packet is too short to sample,
    /// [`QuicError::Decrypt`] when it fails authentication,
    /// [`QuicError::ReservedBits`] when it authenticates with reserved bits set.
    pub(crate) fn open<'s>(
        &self,
        packet: &[u8],
        pn_offset: usize,
        largest: Option<u64>,
        scratch: &'s mut Vec<u8>,
    ) -> Result<(u64, &'s [u8]), QuicError> {
        let sample_start = pn_offset
            .checked_add(PN_SAMPLE_OFFSET)
            .ok_or(QuicError::Header)?;
        let sample = packet
            .get(sample_start..sample_start.saturating_add(SAMPLE_LEN))
            .ok_or(QuicError::Header)?;
        scratch.clear();
        scratch.extend_from_slice(packet);
        let (first, rest) = scratch.split_first_mut().ok_or(QuicError::Header)?;
        let pn_field = rest
            .get_mut(pn_offset.saturating_sub(1)..sample_start.saturating_sub(1))
            .ok_or(QuicError::Header)?;
        self.header
            .decrypt_in_place(sample, first, pn_field)
            .map_err(|_| QuicError::Header)?;
        let pn_len = usize::from(*first & 0x03) + 1;
        let reserved = *first & RESERVED_BITS;
        let truncated = pn_field
            .get(..pn_len)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        let number = decode_packet_number(largest, truncated, pn_len);
        let payload_start = pn_offset + pn_len;
        if scratch.len() < payload_start {
            return Err(QuicError::Header);
        }
        let (header, payload) = scratch.split_at_mut(payload_start);
        let plain = self
            .packet
            .decrypt_in_place(number, header, payload)
            .map_err(|_| QuicError::Decrypt)?;
        // Checked only once the packet authenticates (RFC 9000 §17.2).
        if reserved != 0 {
            return Err(QuicError::ReservedBits);
        }
        Ok((number, plain))
    }
}

/// Recovers a full packet number from its `len`-byte truncation, closest to
/// the one after `largest` (RFC 9000 Appendix A.3).
fn decode_packet_number(largest: Option<u64>, truncated: u64, len: usize) -> u64 {
    const MAX: u64 = (1 << 62) - 1;
    let expected = largest.map_or(0, |l| l.saturating_add(1)).min(MAX);
    let window = 1u64 << (8 * len.clamp(1, 4));
    let half = window / 2;
    let candidate = (expected & !(window - 1)) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1 << 62) - window {
        candidate + window
    } else if candidate > expected.saturating_add(half) && candidate >= window {
        candidate - window
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_numbers_of_rfc_9000_appendix_a3() {
        assert_eq!(
            decode_packet_number(Some(0xa82f_30ea), 0x9b32, 2),
            0xa82f_9b32
        );
        assert_eq!(decode_packet_number(None, 0, 1), 0);
        assert_eq!(decode_packet_number(None, 2, 4), 2);
        assert_eq!(decode_packet_number(Some(0xff), 0x01, 1), 0x101);
    }

    #[test]
    fn keys_come_from_rustls() {
        assert!(ClientInitialKeys::new(Version::V1, &[1, 2, 3, 4, 5, 6, 7, 8]).is_some());
        assert!(ClientInitialKeys::new(Version::V2, &[]).is_some());
    }
}
