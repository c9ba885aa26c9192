//! Cost of one detection decision over real first flights from
//! `sniff/corpus`: whole buffers with every protocol enabled, with only the
//! item's protocol enabled, ruling a protocol out, PROXY header parsing, and
//! the server side of whole SOCKS5 exchanges.
//!
//! Run: `cargo bench -p portico-sniff --bench detect -- --warm-up-time 1
//! --measurement-time 3`; figures are in `docs/sniff-benchmarks.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portico_sniff::socks5::{self, Request};
use portico_sniff::{Credentials, Limits, Protocol, ProtocolSet, Status, detect, proxy};

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

/// The real captures measured (the SOCKS5 ones: the greeting alone), and the
/// synthetic dial line.
fn items() -> [Item; 15] {
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
        item!("ssh_banner", Some(Protocol::Ssh)),
        item!("curl_connect_auth", Some(Protocol::Connect)),
        item!("curl_socks5_auth", Some(Protocol::Socks5)),
        item!("curl_socks5", Some(Protocol::Socks5)),
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

/// The server side of a whole SOCKS5 exchange over a client flight that
/// arrived in one read: the greeting through `detect`, the RFC 1929 message,
/// the request, and the three answers, as the gateway runs it.
fn socks5_server(flight: &[u8], limits: &Limits) -> Option<(Credentials, Request, usize)> {
    let only = ProtocolSet::only(Protocol::Socks5);
    let Ok(Status::Complete(greeting)) = detect(flight, only, limits) else {
        return None;
    };
    let mut sent = 0;
    let offered = greeting.socks5?;
    let method = if offered.user_password {
        socks5::USER_PASSWORD
    } else {
        socks5::NO_ACCEPTABLE
    };
    sent += black_box(socks5::method_selection(method)).len();
    let rest = flight.get(greeting.consume..)?;
    let Ok(Status::Complete((credentials, used))) = socks5::parse_auth(rest) else {
        return None;
    };
    sent += black_box(socks5::auth_reply(true)).len();
    let Ok(Status::Complete((request, _))) = socks5::parse_request(rest.get(used..)?) else {
        return None;
    };
    sent += black_box(socks5::reply(socks5::SUCCEEDED, None)).len();
    Some((credentials, request, sent))
}

/// Whole SOCKS5 exchanges (curl with credentials, to a name, an IPv4 and an
/// IPv6 target), from the greeting to the request and the answers.
fn socks5_exchange(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("socks5_exchange");
    for item in [
        item!("curl_socks5_exchange_name", Some(Protocol::Socks5)),
        item!("curl_socks5_exchange_v4", Some(Protocol::Socks5)),
        item!("curl_socks5_exchange_v6", Some(Protocol::Socks5)),
    ] {
        assert!(
            socks5_server(item.bytes, &limits).is_some(),
            "{}",
            item.name
        );
        group.bench_function(item.name, |b| {
            b.iter(|| socks5_server(black_box(item.bytes), &limits))
        });
    }
    group.finish();
}

criterion_group!(benches, decide, rule_out, proxy_headers, socks5_exchange);
criterion_main!(benches);
