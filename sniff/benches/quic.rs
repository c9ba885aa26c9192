//! Cost of the QUIC routing decision: a fresh `InitialReader` (Initial key
//! derivation included) reading a client's first datagrams up to its
//! answer. A Chrome-sized Initial (one 1,250-byte datagram, X25519 key
//! share), a post-quantum ClientHello (X25519MLKEM768, two Initial packets
//! in two datagrams), quinn-proto's own first flight, and the cheap
//! refusals (a short header, an unknown version).
//!
//! Run: `cargo bench -p portico-sniff --bench quic -- --warm-up-time 1
//! --measurement-time 2`; figures are in `docs/sniff-benchmarks.md`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "bench setup: a failure is a broken bench"
)]

#[allow(dead_code, reason = "shared with the tests, which use all of it")]
#[path = "../tests/quic/packets.rs"]
mod packets;
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
#[path = "../tests/quic/real_client.rs"]
mod real_client;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use packets::{InitialBuilder, V1, client_hello, crypto_frame, datagram};
use portico_sniff::{InitialReader, Limits, QuicVerdict};

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
/// The datagram size Chrome pads its first Initial to.
const CHROME_DATAGRAM: usize = 1250;
/// Bytes of an Initial packet around its plaintext here: header (28) and
/// AEAD tag (16).
const PACKET_OVERHEAD: usize = 28 + 16;

/// A Chrome-sized first datagram: one Initial with an X25519 hello, padded
/// with PADDING frames to 1,250 bytes.
fn chrome_sized() -> Vec<Vec<u8>> {
    let client = InitialBuilder::new(V1, &DCID);
    let hello = client_hello("www.example.org", &[b"h3"], 32);
    let mut frames = crypto_frame(0, &hello);
    frames.resize(CHROME_DATAGRAM - PACKET_OVERHEAD, 0);
    let d = client.initial(0, &frames);
    assert_eq!(d.len(), CHROME_DATAGRAM);
    vec![d]
}

/// A post-quantum hello (1,216 + 32 bytes of key share) over two Initial
/// packets in two datagrams.
fn post_quantum() -> Vec<Vec<u8>> {
    let client = InitialBuilder::new(V1, &DCID);
    let hello = client_hello("www.example.org", &[b"h3"], 1216 + 32);
    let (a, b) = hello.split_at(1150);
    vec![
        datagram(&[client.initial(0, &crypto_frame(0, a))]),
        datagram(&[client.initial(1, &crypto_frame(1150, b))]),
    ]
}

/// Reads `datagrams` with a fresh reader; the last answer.
fn decide(datagrams: &[Vec<u8>], limits: &Limits) -> QuicVerdict {
    let mut reader = InitialReader::new(limits);
    let mut answer = QuicVerdict::NeedMore;
    for d in datagrams {
        answer = reader.push(black_box(d));
    }
    answer
}

fn quic(c: &mut Criterion) {
    let limits = Limits::default();
    let mut short = chrome_sized();
    short[0][0] = 0x41;
    let mut unknown = chrome_sized();
    unknown[0][1..5].copy_from_slice(&0x1a2a_3a4a_u32.to_be_bytes());
    let flights = [
        ("chrome_sized_1250", chrome_sized(), true),
        ("post_quantum_two_datagrams", post_quantum(), true),
        (
            "quinn_first_flight",
            real_client::first_flight("www.example.org", &[b"h3".to_vec()]),
            true,
        ),
        ("short_header_not_quic", short, false),
        ("unknown_version", unknown, false),
    ];
    let mut group = c.benchmark_group("quic_decide");
    for (name, datagrams, complete) in &flights {
        assert_eq!(
            matches!(decide(datagrams, &limits), QuicVerdict::Complete(_)),
            *complete,
            "{name}"
        );
        group.bench_function(*name, |b| b.iter(|| decide(datagrams, &limits)));
    }
    group.finish();
}

criterion_group!(benches, quic);
criterion_main!(benches);
