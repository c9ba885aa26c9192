//! The client Initial packets of RFC 9001 Appendix A.2 (v1) and RFC 9369
//! Appendix A.2 (v2), byte for byte, through [`InitialReader`]: both carry a
//! ClientHello for `example.com` offering ALPN `alpn`. Packets built by a
//! real client and split hellos are tested in `sniff/tests/quic`.

use super::*;

/// RFC 9001 Appendix A.2: the client's first Initial, 1200 bytes.
const RFC9001_INITIAL: &[u8] = include_bytes!("../../corpus/quic/rfc9001_a2_client_initial.bin");
/// RFC 9369 Appendix A.2: the same hello in a QUIC v2 Initial.
const RFC9369_INITIAL: &[u8] = include_bytes!("../../corpus/quic/rfc9369_a2_client_initial.bin");
/// The plaintext CRYPTO frame of both (RFC 9001 Appendix A.2).
const RFC_CRYPTO_FRAME: &[u8] = include_bytes!("../../corpus/quic/rfc9001_a2_crypto_frame.bin");

fn push_one(datagram: &[u8]) -> QuicVerdict {
    InitialReader::new(&Limits::default()).push(datagram)
}

fn example_com() -> Detection {
    let mut found = Detection::new(
        Protocol::Quic,
        Some(crate::Hostname::parse(b"example.com").unwrap()),
    );
    found.tls = Some(crate::Tls {
        alpn: vec![b"alpn".to_vec()],
    });
    found
}

#[test]
fn rfc_9001_client_initial_names_example_com() {
    assert_eq!(
        push_one(RFC9001_INITIAL),
        QuicVerdict::Complete(example_com())
    );
}

#[test]
fn rfc_9369_v2_client_initial_names_example_com() {
    assert_eq!(
        push_one(RFC9369_INITIAL),
        QuicVerdict::Complete(example_com())
    );
}

#[test]
fn the_plaintext_entry_point_reads_the_rfc_frame() {
    let mut payload = RFC_CRYPTO_FRAME.to_vec();
    payload.resize(1162, 0);
    let verdict = read_plaintext_payloads([&payload[..]], &Limits::default());
    assert_eq!(verdict, QuicVerdict::Complete(example_com()));
    let (head, tail) = RFC_CRYPTO_FRAME.split_at(100);
    assert_eq!(
        read_plaintext_payloads([head], &Limits::default()),
        QuicVerdict::Invalid(QuicError::Frame)
    );
    assert_eq!(
        read_plaintext_payloads([tail], &Limits::default()),
        QuicVerdict::Invalid(QuicError::Frame)
    );
}

#[test]
fn trailing_zero_padding_is_ignored() {
    let mut datagram = RFC9001_INITIAL.to_vec();
    datagram.extend_from_slice(&[0; 300]);
    assert_eq!(push_one(&datagram), QuicVerdict::Complete(example_com()));
}

#[test]
fn final_answers_stay() {
    let mut reader = InitialReader::new(&Limits::default());
    assert!(matches!(
        reader.push(RFC9001_INITIAL),
        QuicVerdict::Complete(_)
    ));
    assert!(matches!(reader.push(b"anything"), QuicVerdict::Complete(_)));
    let mut reader = InitialReader::new(&Limits::default());
    let mut broken = RFC9001_INITIAL.to_vec();
    if let Some(b) = broken.get_mut(600) {
        *b ^= 1;
    }
    assert_eq!(
        reader.push(&broken),
        QuicVerdict::Invalid(QuicError::Decrypt)
    );
    assert_eq!(
        reader.push(RFC9001_INITIAL),
        QuicVerdict::Invalid(QuicError::Decrypt)
    );
}

/// A flipped bit never yields a name: in the protected part (packet
/// number and payload) authentication fails; in the header the packet
/// becomes another version, another type (0-RTT, skipped: need more),
/// another connection ID (other keys) or misframed.
#[test]
fn every_bit_flip_fails_or_stays_unnamed() {
    for version in [RFC9001_INITIAL, RFC9369_INITIAL] {
        for byte in 0..version.len() {
            for bit in 0..8 {
                let mut flipped = version.to_vec();
                flipped[byte] ^= 1 << bit;
                let verdict = push_one(&flipped);
                assert!(
                    !matches!(verdict, QuicVerdict::Complete(_)),
                    "byte {byte} bit {bit}: {verdict:?}"
                );
                if byte >= 18 || (byte == 0 && bit < 4) {
                    assert_eq!(
                        verdict,
                        QuicVerdict::Invalid(QuicError::Decrypt),
                        "byte {byte} bit {bit}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_truncation_fails() {
    for len in 0..RFC9001_INITIAL.len() {
        let verdict = push_one(&RFC9001_INITIAL[..len]);
        let expected = match len {
            0..=5 => QuicVerdict::NotQuic,
            6..=14 => QuicVerdict::NotQuic,
            _ => QuicVerdict::Invalid(QuicError::Header),
        };
        assert_eq!(verdict, expected, "{len} bytes");
    }
}

#[test]
fn a_short_datagram_is_refused() {
    // The packet fits, but the datagram is under 1200 bytes: rewrite the
    // Length to drop the last 100 bytes of padding. Authentication would
    // fail, but the size is checked first.
    let mut reader = InitialReader::new(&Limits::default());
    let packet = &RFC9001_INITIAL[..1100];
    let mut short = packet.to_vec();
    // Length is the two bytes at 16..18 (0x449e = 1182): make it 1082.
    short[16..18].copy_from_slice(&(0x4000u16 | 1082).to_be_bytes());
    assert_eq!(
        reader.push(&short),
        QuicVerdict::Invalid(QuicError::ShortDatagram)
    );
}

#[test]
fn unknown_versions_leave_the_reader_fresh() {
    let mut bogus = RFC9001_INITIAL.to_vec();
    bogus[1..5].copy_from_slice(&0x1a2a_3a4a_u32.to_be_bytes());
    let mut reader = InitialReader::new(&Limits::default());
    assert_eq!(
        reader.push(&bogus),
        QuicVerdict::UnknownVersion(0x1a2a_3a4a)
    );
    assert!(version_negotiation(&bogus).is_some());
    assert_eq!(
        reader.push(RFC9001_INITIAL),
        QuicVerdict::Complete(example_com())
    );
}

#[test]
fn short_headers_and_version_negotiation_are_not_quic() {
    let mut reader = InitialReader::new(&Limits::default());
    let mut short = RFC9001_INITIAL.to_vec();
    short[0] = 0x43;
    assert_eq!(reader.push(&short), QuicVerdict::NotQuic);
    let mut vn = RFC9001_INITIAL.to_vec();
    vn[1..5].copy_from_slice(&[0; 4]);
    assert_eq!(reader.push(&vn), QuicVerdict::NotQuic);
    assert_eq!(reader.push(b""), QuicVerdict::NotQuic);
    assert_eq!(reader.push(b"\x00\x01dns?"), QuicVerdict::NotQuic);
    assert_eq!(
        reader.push(RFC9001_INITIAL),
        QuicVerdict::Complete(example_com())
    );
}

#[test]
fn a_version_change_within_the_flow_is_invalid() {
    let limits = Limits {
        quic_datagrams: 3,
        ..Limits::default()
    };
    let mut reader = InitialReader::new(&limits);
    // A Handshake packet of v1 (type 0b10) starts the flow, unread.
    let mut handshake = vec![0xe0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 20];
    handshake.extend_from_slice(&[0; 20]);
    assert_eq!(reader.push(&handshake), QuicVerdict::NeedMore);
    assert_eq!(
        reader.push(RFC9369_INITIAL),
        QuicVerdict::Invalid(QuicError::VersionChanged)
    );
}

#[test]
fn too_many_datagrams_without_a_hello() {
    let limits = Limits {
        quic_datagrams: 3,
        ..Limits::default()
    };
    let mut reader = InitialReader::new(&limits);
    let mut zero_rtt = vec![0xd0, 0, 0, 0, 1, 0, 0, 0x40, 20];
    zero_rtt.extend_from_slice(&[0; 20]);
    assert_eq!(reader.push(&zero_rtt), QuicVerdict::NeedMore);
    assert_eq!(reader.push(&zero_rtt), QuicVerdict::NeedMore);
    assert_eq!(
        reader.push(&zero_rtt),
        QuicVerdict::Invalid(QuicError::TooManyDatagrams)
    );
}

#[test]
fn a_retry_packet_from_a_client_is_invalid() {
    let mut retry = RFC9001_INITIAL.to_vec();
    retry[0] = 0xf0;
    assert_eq!(
        push_one(&retry),
        QuicVerdict::Invalid(QuicError::UnexpectedPacket)
    );
}

#[test]
fn a_small_hello_cap_is_too_large() {
    let limits = Limits {
        tls_hello: 100,
        ..Limits::default()
    };
    let verdict = InitialReader::new(&limits).push(RFC9001_INITIAL);
    assert_eq!(verdict, QuicVerdict::Invalid(QuicError::TooLarge));
}

#[test]
fn a_reader_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<InitialReader>();
}
