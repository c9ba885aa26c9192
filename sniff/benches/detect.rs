//! Cost of one detection decision over real first flights from
//! `sniff/corpus`: whole buffers with every protocol enabled, with only the
//! item's protocol enabled, ruling a protocol out, and PROXY header parsing.
//!
//! Run: `cargo bench -p portico-sniff --bench detect -- --warm-up-time 1
//! --measurement-time 3`; figures are in `docs/sniff-benchmarks.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portico_sniff::{Limits, Protocol, ProtocolSet, detect, proxy};

/// A corpus item: its name, bytes and the protocol it is.
struct Item {
    name: &'static str,
    bytes: &'static [u8],
    protocol: Option<Protocol>,
}

macro_rules! item {
    ($name:literal, $protocol:expr) => {
        Item {
            name: $name,
            bytes: include_bytes!(concat!("../corpus/", $name, ".bin")),
            protocol: $protocol,
        }
    };
}

/// The real captures measured, and the synthetic dial line.
fn items() -> [Item; 12] {
    [
        item!("curl_http11", Some(Protocol::Http)),
        item!("curl_proxy_absolute", Some(Protocol::Http)),
        item!("curl_h2_prior_knowledge", Some(Protocol::Http)),
        item!("curl_tls_h2", Some(Protocol::Tls)),
        item!("curl_tls_ip_nosni", Some(Protocol::Tls)),
        item!("openssl_tls13", Some(Protocol::Tls)),
        item!("openssl_tls12", Some(Protocol::Tls)),
        item!("chromium_pq", Some(Protocol::Tls)),
        item!("chromium_pq_two_records", Some(Protocol::Tls)),
        item!("slixmpp_c2s", Some(Protocol::Xmpp)),
        item!("dial_host", Some(Protocol::Dial)),
        item!("ssh_banner", None),
    ]
}

/// Whole-buffer decisions, every protocol enabled and only the item's own.
fn decide(c: &mut Criterion) {
    let limits = Limits::default();
    let mut all = c.benchmark_group("decide_all");
    for item in items() {
        all.bench_function(item.name, |b| {
            b.iter(|| detect(black_box(item.bytes), ProtocolSet::ALL, &limits))
        });
    }
    all.finish();
    let mut only = c.benchmark_group("decide_only");
    for item in items() {
        let Some(protocol) = item.protocol else {
            continue;
        };
        only.bench_function(item.name, |b| {
            b.iter(|| detect(black_box(item.bytes), ProtocolSet::only(protocol), &limits))
        });
    }
    only.finish();
}

/// Ruling a protocol out: the item with its own protocol disabled (every
/// other detector must say "not mine"), and a one-byte buffer.
fn rule_out(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("rule_out");
    for item in items() {
        let Some(protocol) = item.protocol else {
            continue;
        };
        let others = ProtocolSet::ALL.without(protocol);
        group.bench_function(format!("{}_without_{protocol}", item.name), |b| {
            b.iter(|| detect(black_box(item.bytes), others, &limits))
        });
    }
    for (name, byte) in [("first_byte_0x16", 0x16u8), ("first_byte_0xff", 0xff)] {
        let buf = [byte];
        group.bench_function(name, |b| {
            b.iter(|| detect(black_box(&buf), ProtocolSet::ALL, &limits))
        });
    }
    group.finish();
}

/// PROXY header parsing on the captured v1 (curl) and v2 (HAProxy) headers.
fn proxy_headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("proxy_parse");
    for item in [item!("curl_proxy_v1", None), item!("haproxy_v2_curl", None)] {
        group.bench_function(item.name, |b| {
            b.iter(|| proxy::parse(black_box(item.bytes)))
        });
    }
    group.finish();
}

criterion_group!(benches, decide, rule_out, proxy_headers);
criterion_main!(benches);
