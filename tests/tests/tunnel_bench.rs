//! Measurements of the tunnel, not tests: bulk throughput of one stream and
//! new connections per second through gateway → link → tunnel client →
//! nginx, with plain delivery and with TUN delivery. Ignored by default;
//! run with
//! `cargo test --release -p portico-tests --test tunnel_bench -- --ignored --nocapture`
//! after `cargo build --release --bins`. Results: docs/tunnel-benchmarks.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use portico_tests::netns::GW_PUBLIC_V4;
use portico_tests::tunnel::Delivery;
use portico_tests::tunnel_scene::Scene;

/// Size of the bulk download.
const BULK_BYTES: u64 = 256 << 20;
/// Sequential connections of the rate measurement.
const CONNECTIONS: usize = 500;
/// Bound on each measurement.
const MEASURE_WAIT: Duration = Duration::from_secs(300);

/// Bytes per second of one `GET /files/bulk` (curl's own figure).
fn bulk_download(scene: &Scene) -> f64 {
    let bulk = scene.dir().join("files").join("bulk");
    // A sparse file: nginx reads zeros without touching the disk.
    std::fs::File::create(&bulk)
        .unwrap()
        .set_len(BULK_BYTES)
        .unwrap();
    let resolve = format!("app.test:80:{GW_PUBLIC_V4}");
    let out = scene.curl_raw(
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{speed_download}",
            "--resolve",
            &resolve,
            "http://app.test/files/bulk",
        ],
        MEASURE_WAIT,
    );
    assert!(out.status.success(), "bulk download: {}", out.all());
    let mut fields = out.stdout.split_whitespace();
    let size: u64 = fields.next().unwrap().parse().unwrap();
    assert_eq!(size, BULK_BYTES, "the whole file arrived");
    fields.next().unwrap().parse().unwrap()
}

/// New connections per second: one curl, `CONNECTIONS` sequential requests
/// that each close their connection.
fn connection_rate(scene: &Scene) -> f64 {
    let resolve = format!("app.test:80:{GW_PUBLIC_V4}");
    let url = format!("http://app.test/?n=[1-{CONNECTIONS}]");
    let start = Instant::now();
    let out = scene.curl_raw(
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\\n",
            "-H",
            "Connection: close",
            "--resolve",
            &resolve,
            &url,
        ],
        MEASURE_WAIT,
    );
    let elapsed = start.elapsed();
    assert!(out.status.success(), "connection loop: {}", out.all());
    let ok = out.stdout.lines().filter(|l| *l == "200").count();
    assert_eq!(ok, CONNECTIONS, "every request answered 200: {}", out.all());
    CONNECTIONS as f64 / elapsed.as_secs_f64()
}

#[test]
#[ignore = "measurement: run explicitly, see docs/tunnel-benchmarks.md"]
fn tunnel_throughput_and_connection_rate() {
    println!("| delivery | bulk 256 MiB, one stream | new connections |");
    println!("|---|---|---|");
    for (label, delivery) in [
        ("plain (source = \"tunnel\")", Delivery::Plain),
        ("TUN (source = \"original\", policy)", Delivery::Policy),
    ] {
        let scene = Scene::start(delivery);
        let speed = bulk_download(&scene);
        let rate = connection_rate(&scene);
        println!(
            "| {label} | {:.0} MiB/s ({:.2} Gbit/s) | {rate:.0} /s |",
            speed / f64::from(1 << 20),
            speed * 8.0 / 1e9
        );
    }
}
