//! A client-side Initial packet builder for tests: the client's Initial keys
//! from rustls (`Side::Client`), any frames, any packet number, any version,
//! so that tests can split, reorder, coalesce and corrupt at will.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support: a failure here is a broken test, reported by the panic"
)]

use rustls::Side;
use rustls::quic::{DirectionalKeys, Keys, Version};

/// QUIC v1 on the wire.
pub const V1: u32 = 1;
/// QUIC v2 on the wire.
pub const V2: u32 = 0x6b33_43cf;
/// The smallest datagram that may carry a client Initial.
pub const MIN_DATAGRAM: usize = 1200;

/// Builds one client's Initial packets.
pub struct InitialBuilder {
    version: u32,
    dcid: Vec<u8>,
    scid: Vec<u8>,
    keys: DirectionalKeys,
}

impl InitialBuilder {
    /// A client of `version` (v1 or v2) whose first Destination Connection
    /// ID is `dcid`.
    pub fn new(version: u32, dcid: &[u8]) -> InitialBuilder {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
            .tls13()
            .unwrap();
        let rustls_version = if version == V2 {
            Version::V2
        } else {
            Version::V1
        };
        let keys = Keys::initial(
            rustls_version,
            suite,
            suite.quic.unwrap(),
            dcid,
            Side::Client,
        );
        InitialBuilder {
            version,
            dcid: dcid.to_vec(),
            scid: vec![0x5c; 8],
            keys: keys.local,
        }
    }

    /// A protected Initial packet numbered `pn` carrying `frames` (padded
    /// with PADDING frames to at least 4 bytes, so that it can be sampled).
    pub fn initial(&self, pn: u32, frames: &[u8]) -> Vec<u8> {
        const PN_LEN: usize = 2;
        let mut plain = frames.to_vec();
        if plain.len() < 4 {
            plain.resize(4, 0);
        }
        let type_bits: u8 = if self.version == V2 { 0b01 } else { 0b00 };
        let mut packet = vec![0xc0 | type_bits << 4 | (PN_LEN as u8 - 1)];
        packet.extend_from_slice(&self.version.to_be_bytes());
        packet.push(u8::try_from(self.dcid.len()).unwrap());
        packet.extend_from_slice(&self.dcid);
        packet.push(u8::try_from(self.scid.len()).unwrap());
        packet.extend_from_slice(&self.scid);
        packet.push(0); // no token
        let length = PN_LEN + plain.len() + 16;
        packet.extend_from_slice(&(0x4000 | u16::try_from(length).unwrap()).to_be_bytes());
        let pn_offset = packet.len();
        packet.extend_from_slice(&u16::try_from(pn & 0xffff).unwrap().to_be_bytes());
        let tag = self
            .keys
            .packet
            .encrypt_in_place(u64::from(pn), &packet, &mut plain)
            .unwrap();
        packet.extend_from_slice(&plain);
        packet.extend_from_slice(tag.as_ref());
        let mut sample = [0u8; 16];
        sample.copy_from_slice(&packet[pn_offset + 4..pn_offset + 20]);
        let (first, rest) = packet.split_first_mut().unwrap();
        self.keys
            .header
            .encrypt_in_place(
                &sample,
                first,
                &mut rest[pn_offset - 1..pn_offset - 1 + PN_LEN],
            )
            .unwrap();
        packet
    }
}

/// A CRYPTO frame carrying `data` at stream `offset`.
pub fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x06];
    frame.extend_from_slice(&varint(offset));
    frame.extend_from_slice(&varint(data.len() as u64));
    frame.extend_from_slice(data);
    frame
}

/// A PING frame and an ACK frame, which Initial packets may carry.
pub fn ping_and_ack() -> Vec<u8> {
    vec![0x01, 0x02, 0x00, 0x00, 0x00, 0x00]
}

/// `packets` back to back, zero-padded to [`MIN_DATAGRAM`] bytes.
pub fn datagram(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = packets.concat();
    if out.len() < MIN_DATAGRAM {
        out.resize(MIN_DATAGRAM, 0);
    }
    out
}

/// A variable-length integer in its 8-byte form when large, else 2 bytes.
fn varint(n: u64) -> Vec<u8> {
    if n < 0x4000 {
        (0x4000 | u16::try_from(n).unwrap()).to_be_bytes().to_vec()
    } else {
        (0xc000_0000_0000_0000 | n).to_be_bytes().to_vec()
    }
}

/// A TLS 1.3 ClientHello handshake message (header included) naming
/// `host`, offering `alpn`, with `key_share_len` bytes of key share (1216 +
/// 32 is X25519MLKEM768 beside X25519).
pub fn client_hello(host: &str, alpn: &[&[u8]], key_share_len: usize) -> Vec<u8> {
    fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(data);
        out
    }
    fn vec16(data: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(data);
        out
    }
    let mut sni = vec![0];
    sni.extend_from_slice(&vec16(host.as_bytes()));
    let mut names = Vec::new();
    for name in alpn {
        names.push(u8::try_from(name.len()).unwrap());
        names.extend_from_slice(name);
    }
    let mut share = 0x11ecu16.to_be_bytes().to_vec();
    share.extend_from_slice(&vec16(&vec![0xab; key_share_len]));
    let extensions = [
        ext(0, &vec16(&sni)),
        ext(16, &vec16(&names)),
        ext(43, &[2, 3, 4]),
        ext(51, &vec16(&share)),
        ext(57, &[0x01, 0x04, 0x80, 0x00, 0xff, 0xff]),
    ]
    .concat();
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x11; 32]);
    body.push(0); // empty legacy session id, as QUIC clients send
    body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
    body.extend_from_slice(&vec16(&extensions));
    let mut message = vec![0x01];
    message.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    message.extend_from_slice(&body);
    message
}
