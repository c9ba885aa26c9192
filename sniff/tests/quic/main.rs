//! QUIC Initial reading end to end, without sockets: the first flight of a
//! real client (quinn-proto), and Initials built here with rustls's client
//! keys, split, reordered, duplicated, coalesced and corrupted. The answer
//! never depends on how the CRYPTO stream was split or ordered, and a
//! corrupted packet never yields a name.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support: a failure here is a broken test, reported by the panic"
)]

mod packets;
mod real_client;

use packets::{InitialBuilder, V1, V2, client_hello, crypto_frame, datagram, ping_and_ack};
use portico_sniff::quic::read_plaintext_payloads;
use portico_sniff::{Detection, InitialReader, Limits, Protocol, QuicError, QuicVerdict};
use proptest::prelude::*;

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

/// What a hello for `host` with `alpn` must be read as.
fn expected(host: &str, alpn: &[Vec<u8>]) -> Detection {
    let hello = client_hello(host, &alpn.iter().map(Vec::as_slice).collect::<Vec<_>>(), 0);
    match read_plaintext_payloads([&crypto_frame(0, &hello)[..]], &Limits::default()) {
        QuicVerdict::Complete(found) => found,
        other => panic!("reference hello not read: {other:?}"),
    }
}

/// Pushes `datagrams` in order into a fresh reader; the last answer.
fn push_all(limits: &Limits, datagrams: &[Vec<u8>]) -> QuicVerdict {
    let mut reader = InitialReader::new(limits);
    let mut last = QuicVerdict::NeedMore;
    for d in datagrams {
        last = reader.push(d);
    }
    last
}

#[test]
fn a_quinn_client_names_its_server() {
    let flight = real_client::first_flight("app.example.org", &[b"h3".to_vec()]);
    assert_eq!(flight.len(), 1, "one Initial datagram");
    assert!(flight[0].len() >= 1200);
    let QuicVerdict::Complete(found) = push_all(&Limits::default(), &flight) else {
        panic!("not complete");
    };
    assert_eq!(found.protocol, Protocol::Quic);
    assert_eq!(found.host.unwrap().as_str(), "app.example.org");
    assert_eq!(found.tls.unwrap().alpn, [b"h3".to_vec()]);
}

#[test]
fn a_quinn_hello_over_two_datagrams_is_reassembled_in_any_order() {
    let alpn = real_client::many_alpn(150);
    let flight = real_client::first_flight("big.example.org", &alpn);
    assert!(
        flight.len() >= 2,
        "the hello spans datagrams: {}",
        flight.len()
    );
    for order in [flight.clone(), flight.iter().rev().cloned().collect()] {
        let mut reader = InitialReader::new(&Limits::default());
        let (last, first) = order.split_last().unwrap();
        for d in first {
            assert_eq!(reader.push(d), QuicVerdict::NeedMore);
        }
        let QuicVerdict::Complete(found) = reader.push(last) else {
            panic!("not complete");
        };
        assert_eq!(found.host.unwrap().as_str(), "big.example.org");
        assert_eq!(found.tls.unwrap().alpn, alpn);
    }
    // The same packets coalesced into one datagram.
    let coalesced = vec![flight.concat()];
    assert!(matches!(
        push_all(&Limits::default(), &coalesced),
        QuicVerdict::Complete(_)
    ));
    // A corrupted second datagram fails authentication.
    let mut broken = flight.clone();
    let last = broken.last_mut().unwrap();
    last[100] ^= 0x20;
    assert_eq!(
        push_all(&Limits::default(), &broken),
        QuicVerdict::Invalid(QuicError::Decrypt)
    );
}

#[test]
fn a_post_quantum_hello_spans_two_packets_and_datagrams() {
    for version in [V1, V2] {
        let client = InitialBuilder::new(version, &DCID);
        let hello = client_hello("pq.example.org", &[b"h3"], 1216 + 32);
        assert!(hello.len() > 1300);
        let (a, b) = hello.split_at(1100);
        let first = datagram(&[client.initial(0, &crypto_frame(0, a))]);
        let second = datagram(&[client.initial(1, &crypto_frame(1100, b))]);
        let mut reader = InitialReader::new(&Limits::default());
        assert_eq!(reader.push(&first), QuicVerdict::NeedMore);
        let QuicVerdict::Complete(found) = reader.push(&second) else {
            panic!("not complete");
        };
        assert_eq!(found.host.unwrap().as_str(), "pq.example.org");
    }
}

#[test]
fn coalesced_packets_padding_and_skipped_packets() {
    let client = InitialBuilder::new(V1, &DCID);
    let hello = client_hello("co.example.org", &[b"h3"], 32);
    let (a, b) = hello.split_at(60);
    let mut zero_rtt = vec![0xd0, 0, 0, 0, 1, 8];
    zero_rtt.extend_from_slice(&DCID);
    zero_rtt.extend_from_slice(&[0, 0x40, 30]);
    zero_rtt.extend_from_slice(&[0x77; 30]);
    let mut packets = vec![
        client.initial(0, &[ping_and_ack(), crypto_frame(60, b)].concat()),
        zero_rtt,
        client.initial(1, &crypto_frame(0, a)),
    ];
    // A short-header packet last in the datagram is not read.
    packets.push(vec![0x41, 0xff, 0xff, 0xff]);
    let d = datagram(&packets);
    let QuicVerdict::Complete(found) = push_all(&Limits::default(), &[d]) else {
        panic!("not complete");
    };
    assert_eq!(found.host.unwrap().as_str(), "co.example.org");
    // A packet for another connection ID after the first is ignored.
    let other = InitialBuilder::new(V1, &[9; 8]);
    let d = datagram(&[
        client.initial(0, &crypto_frame(0, a)),
        other.initial(0, &crypto_frame(60, b)),
    ]);
    assert_eq!(push_all(&Limits::default(), &[d]), QuicVerdict::NeedMore);
}

#[test]
fn refusals() {
    let client = InitialBuilder::new(V1, &DCID);
    let hello = client_hello("no.example.org", &[], 32);
    let (a, b) = hello.split_at(40);
    let limits = Limits::default();
    // CONNECTION_CLOSE before the hello is complete.
    let close = [0x1c, 0x0a, 0x00, 0x00];
    let d = datagram(&[client.initial(0, &[crypto_frame(0, a), close.to_vec()].concat())]);
    assert_eq!(
        push_all(&limits, &[d]),
        QuicVerdict::Invalid(QuicError::Closed)
    );
    // A STREAM frame in an Initial.
    let d = datagram(&[client.initial(0, &[0x08, 0x00, 0x01, b'x'])]);
    assert_eq!(
        push_all(&limits, &[d]),
        QuicVerdict::Invalid(QuicError::Frame)
    );
    // CRYPTO data that disagrees with itself.
    let mut forged = a.to_vec();
    forged[10] ^= 1;
    let d1 = datagram(&[client.initial(0, &crypto_frame(0, a))]);
    let d2 = datagram(&[client.initial(1, &crypto_frame(0, &forged))]);
    assert_eq!(
        push_all(&limits, &[d1, d2]),
        QuicVerdict::Invalid(QuicError::CryptoMismatch)
    );
    // Data past the hello cap.
    let d = datagram(&[client.initial(0, &crypto_frame(20_000, b))]);
    assert_eq!(
        push_all(&limits, &[d]),
        QuicVerdict::Invalid(QuicError::TooLarge)
    );
    // A CRYPTO stream that is not a ClientHello.
    let d = datagram(&[client.initial(0, &crypto_frame(0, &[2, 0, 0, 4, 1, 2, 3, 4]))]);
    assert!(matches!(
        push_all(&limits, &[d]),
        QuicVerdict::Invalid(QuicError::Hello(_))
    ));
    // A v2 packet in a v1 flow.
    let v2 = InitialBuilder::new(V2, &DCID);
    let d1 = datagram(&[client.initial(0, &crypto_frame(0, a))]);
    let d2 = datagram(&[v2.initial(1, &crypto_frame(40, b))]);
    assert_eq!(
        push_all(&limits, &[d1, d2]),
        QuicVerdict::Invalid(QuicError::VersionChanged)
    );
    // Too many datagrams without the end of the hello.
    let few = Limits {
        quic_datagrams: 2,
        ..limits
    };
    let d = datagram(&[client.initial(0, &crypto_frame(0, a))]);
    assert_eq!(
        push_all(&few, &[d.clone(), d]),
        QuicVerdict::Invalid(QuicError::TooManyDatagrams)
    );
}

/// A tiny deterministic shuffle, driven by a proptest-chosen seed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = usize::try_from(seed % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}

/// A post-quantum-sized hello split at `cuts` into CRYPTO frames, plus
/// one duplicated range, the frames shuffled, grouped `per_packet` into
/// packets and `per_datagram` into datagrams, the datagrams shuffled.
fn split_flight(
    version: u32,
    hello: &[u8],
    cuts: &[prop::sample::Index],
    dup: (prop::sample::Index, prop::sample::Index),
    per_packet: usize,
    per_datagram: usize,
    seed: u64,
) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(hello.len())).collect();
    points.extend([0, hello.len()]);
    points.sort_unstable();
    points.dedup();
    let mut frames: Vec<Vec<u8>> = points
        .windows(2)
        .map(|w| crypto_frame(w[0] as u64, &hello[w[0]..w[1]]))
        .collect();
    let (x, y) = (dup.0.index(hello.len()), dup.1.index(hello.len()));
    let (lo, hi) = (x.min(y), x.max(y));
    frames.push(crypto_frame(lo as u64, &hello[lo..hi]));
    shuffle(&mut frames, seed);
    let client = InitialBuilder::new(version, &DCID);
    let packets: Vec<Vec<u8>> = frames
        .chunks(per_packet)
        .enumerate()
        .map(|(pn, group)| client.initial(u32::try_from(pn).unwrap(), &group.concat()))
        .collect();
    let mut datagrams: Vec<Vec<u8>> = packets.chunks(per_datagram).map(datagram).collect();
    shuffle(&mut datagrams, seed.rotate_left(17) | 1);
    datagrams
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_answer_does_not_depend_on_splitting_or_order(
        v2 in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        dup in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        per_packet in 1usize..4,
        per_datagram in 1usize..4,
        seed in 1u64..,
    ) {
        let alpn = [b"h3".to_vec(), b"h3-29".to_vec()];
        let hello = client_hello("split.example.org", &[b"h3", b"h3-29"], 1216 + 32);
        let version = if v2 { V2 } else { V1 };
        let flight = split_flight(version, &hello, &cuts, dup, per_packet, per_datagram, seed);
        let limits = Limits { quic_datagrams: 16, ..Limits::default() };
        let want = QuicVerdict::Complete(expected("split.example.org", &alpn));
        let mut reader = InitialReader::new(&limits);
        for d in &flight {
            let answer = reader.push(d);
            prop_assert!(answer == QuicVerdict::NeedMore || answer == want, "{answer:?}");
        }
        prop_assert_eq!(reader.push(&[]), want);
    }

    #[test]
    fn a_flipped_bit_never_names_another_host(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        dup in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
        seed in 1u64..,
    ) {
        let hello = client_hello("flip.example.org", &[b"h3"], 1216 + 32);
        let mut flight = split_flight(V1, &hello, &cuts, dup, 1, 1, seed);
        let d = which.get_mut(&mut flight);
        let i = at.index(d.len());
        d[i] ^= 1 << bit;
        let limits = Limits { quic_datagrams: 16, ..Limits::default() };
        match push_all(&limits, &flight) {
            QuicVerdict::Complete(found) => {
                prop_assert_eq!(found, expected("flip.example.org", &[b"h3".to_vec()]));
            }
            QuicVerdict::NeedMore | QuicVerdict::Invalid(_) | QuicVerdict::NotQuic
            | QuicVerdict::UnknownVersion(_) => {}
        }
    }

    #[test]
    fn any_datagrams_never_panic(
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1400), 1..4),
        first in prop_oneof![Just(0xc0u8), Just(0xd0), any::<u8>()],
        v2 in any::<bool>(),
    ) {
        let mut datagrams = datagrams;
        if let Some(d) = datagrams.first_mut() && d.len() > 6 {
            d[0] = first;
            d[1..5].copy_from_slice(&if v2 { V2 } else { V1 }.to_be_bytes());
        }
        let _ = push_all(&Limits::default(), &datagrams);
        let _ = read_plaintext_payloads(datagrams.iter().map(Vec::as_slice), &Limits::default());
    }
}

/// Frames datagrams (or payloads) as the fuzz targets read them: a 2-byte
/// big-endian length before each.
fn fuzz_framing(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// Writes the seed corpora of the `detect_quic` and `quic_frames` fuzz
/// targets (`fuzz/seeds/`): the RFC packets, quinn's first flights and a
/// split post-quantum hello. Run by hand after changing them:
/// `cargo test -p portico-sniff --test quic -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes fuzz/seeds; run by hand"]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/quic");
    let read = |name: &str| std::fs::read(corpus.join(name)).unwrap();
    let client = InitialBuilder::new(V1, &DCID);
    let hello = client_hello("pq.example.org", &[b"h3"], 1216 + 32);
    let (a, b) = hello.split_at(1100);
    let pq_frames = [crypto_frame(1100, b), crypto_frame(0, a)];
    let datagram_seeds = [
        ("rfc9001_a2", vec![read("rfc9001_a2_client_initial.bin")]),
        ("rfc9369_a2", vec![read("rfc9369_a2_client_initial.bin")]),
        (
            "quinn_h3",
            real_client::first_flight("app.example.org", &[b"h3".to_vec()]),
        ),
        (
            "quinn_two_datagrams",
            real_client::first_flight("big.example.org", &real_client::many_alpn(150)),
        ),
        (
            "pq_two_datagrams_reversed",
            vec![
                datagram(&[client.initial(1, &pq_frames[0])]),
                datagram(&[client.initial(0, &pq_frames[1])]),
            ],
        ),
    ];
    let dir = root.join("detect_quic");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, datagrams) in datagram_seeds {
        std::fs::write(dir.join(name), fuzz_framing(&datagrams)).unwrap();
    }
    let mut rfc_payload = read("rfc9001_a2_crypto_frame.bin");
    rfc_payload.extend_from_slice(&[0; 16]);
    let payload_seeds = [
        ("rfc9001_a2_payload", vec![rfc_payload]),
        ("pq_split", pq_frames.to_vec()),
        (
            "small_pieces",
            vec![
                [ping_and_ack(), crypto_frame(40, &hello[40..90])].concat(),
                crypto_frame(0, &hello[..50]),
                [crypto_frame(90, &hello[90..]), vec![0x1c, 0, 0, 0]].concat(),
            ],
        ),
    ];
    let dir = root.join("quic_frames");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, payloads) in payload_seeds {
        std::fs::write(dir.join(name), fuzz_framing(&payloads)).unwrap();
    }
}
