//! Property tests of the sans-IO codecs: encode→decode round-trips, no
//! panic on arbitrary bytes, and results independent of how input is split.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use bytes::{Buf, BytesMut};
use portico_link::{ControlMessage, HEADER_VERSION, Hello, RefuseReason, StreamHeader};
use portico_sniff::{Hostname, Protocol};
use proptest::prelude::*;

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<u32>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<u128>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            0,
            0
        ))),
    ]
}

fn protocol() -> impl Strategy<Value = Option<Protocol>> {
    prop_oneof![
        Just(None),
        proptest::sample::select(Protocol::ALL.to_vec()).prop_map(Some)
    ]
}

fn hostname() -> impl Strategy<Value = Option<Hostname>> {
    prop_oneof![
        Just(None),
        "[a-zA-Z][a-zA-Z0-9-]{0,20}[a-z](\\.[a-z][a-z0-9]{0,62}){0,3}\\.?"
            .prop_filter_map("not a hostname", |name| Hostname::parse_str(&name).ok())
            .prop_map(Some),
        socket_addr().prop_map(|addr| Some(Hostname::from_ip(addr.ip()))),
    ]
}

fn header() -> impl Strategy<Value = StreamHeader> {
    (
        socket_addr(),
        socket_addr(),
        protocol(),
        hostname(),
        any::<bool>(),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(
            |(client, reached, protocol, host, answer, port, datagrams)| {
                // An exit needs a name to dial.
                let exit = host.as_ref().and(answer.then_some(port));
                StreamHeader {
                    client,
                    reached,
                    protocol,
                    host,
                    answer,
                    exit,
                    datagrams,
                }
            },
        )
}

fn control() -> impl Strategy<Value = ControlMessage> {
    prop_oneof![
        (
            "[a-zA-Z0-9 ._-]{1,64}",
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(name, token)| ControlMessage::Hello(Hello {
                version: HEADER_VERSION,
                name,
                token,
            })),
        any::<u64>().prop_map(|session_id| ControlMessage::Welcome { session_id }),
        proptest::sample::select(RefuseReason::ALL.to_vec())
            .prop_map(|reason| ControlMessage::Refuse { reason }),
    ]
}

/// Decodes `bytes` split in two chunks at `cut`, with a `Chain`.
fn decode_split<T, E>(
    bytes: &[u8],
    cut: usize,
    decode: impl Fn(&mut dyn Buf) -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let cut = cut.min(bytes.len());
    let (first, second) = bytes.split_at(cut);
    let mut chained = first.chain(second);
    decode(&mut chained)
}

fn decode_header(buf: &mut dyn Buf) -> Result<Option<StreamHeader>, portico_link::HeaderError> {
    StreamHeader::decode(&mut &mut *buf)
}

fn decode_control(buf: &mut dyn Buf) -> Result<Option<ControlMessage>, portico_link::ControlError> {
    ControlMessage::decode(&mut &mut *buf)
}

proptest! {
    #[test]
    fn header_round_trips(header in header(), tail in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), header.encoded_len());
        bytes.extend_from_slice(&tail);
        let mut buf = bytes.as_slice();
        prop_assert_eq!(StreamHeader::decode(&mut buf), Ok(Some(header)));
        prop_assert_eq!(buf, tail.as_slice());
    }

    #[test]
    fn control_round_trips(message in control()) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes).unwrap();
        let mut buf = bytes.as_slice();
        prop_assert_eq!(ControlMessage::decode(&mut buf), Ok(Some(message)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_agrees(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        cut in 0usize..400,
    ) {
        let whole = StreamHeader::decode(&mut bytes.as_slice());
        prop_assert_eq!(decode_split(&bytes, cut, decode_header), whole);
        let whole = ControlMessage::decode(&mut bytes.as_slice());
        prop_assert_eq!(decode_split(&bytes, cut, decode_control), whole);
    }

    #[test]
    fn versioned_arbitrary_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        kind in 1u8..=3,
    ) {
        // Well-formed prefixes reach the field decoders, which random bytes
        // rarely do.
        let len = u16::try_from(body.len()).unwrap().to_be_bytes();
        let mut header = vec![HEADER_VERSION, len[0], len[1]];
        header.extend_from_slice(&body);
        let _ = StreamHeader::decode(&mut header.as_slice());
        let mut control = vec![kind, len[0], len[1]];
        control.extend_from_slice(&body);
        let _ = ControlMessage::decode(&mut control.as_slice());
    }

    #[test]
    fn incremental_input_needs_more_then_agrees(header in header(), message in control()) {
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        let mut buf = BytesMut::new();
        for (at, byte) in bytes.iter().enumerate() {
            prop_assert_eq!(StreamHeader::decode(&mut buf), Ok(None), "at {}", at);
            buf.extend_from_slice(&[*byte]);
        }
        prop_assert_eq!(StreamHeader::decode(&mut buf), Ok(Some(header)));
        prop_assert!(buf.is_empty());

        let mut bytes = Vec::new();
        message.encode(&mut bytes).unwrap();
        let mut buf = BytesMut::new();
        for byte in &bytes {
            prop_assert_eq!(ControlMessage::decode(&mut buf), Ok(None));
            buf.extend_from_slice(&[*byte]);
        }
        prop_assert_eq!(ControlMessage::decode(&mut buf), Ok(Some(message)));
    }

    #[test]
    fn prefixes_of_arbitrary_bytes_need_more_or_agree(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let whole = StreamHeader::decode(&mut bytes.as_slice());
        for cut in 0..bytes.len() {
            let part = StreamHeader::decode(&mut &bytes[..cut]);
            prop_assert!(part == Ok(None) || part == whole, "cut {}: {:?} vs {:?}", cut, part, whole);
        }
    }
}
