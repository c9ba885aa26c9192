//! Shared fixtures for Portico's end-to-end tests: locating the built
//! binaries, starting the real `portico-gateway` and real third-party peers
//! (nginx, HAProxy, Prosody, Unbound, aioquic, Caddy) on loopback, and small Rust
//! peers (echo and HTTP responders, a UDP recorder) for counting what
//! reaches a backend. Also the in-process
//! pieces of the tests that run `portico-gateway`'s ACME manager or
//! `portico-tunnel`'s delivery as libraries against Pebble or inside a
//! network namespace.
//!
//! Every peer is a [`process::Peer`] or owns one: its output goes to a log
//! file, and it is killed and reaped when dropped (its log is printed when
//! the test is failing). Every wait is bounded by [`WAIT`].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod acme;
pub mod aioquic;
pub mod backends;
pub mod binaries;
pub mod caddy;
pub mod certs;
pub mod clients;
pub mod config;
pub mod gateway;
pub mod haproxy;
pub mod metrics;
pub mod net;
pub mod netns;
pub mod nginx;
pub mod pebble;
pub mod process;
pub mod prosody;
pub mod smtpd;
pub mod sshd;
pub mod tls;
pub mod tools;
pub mod tunnel;
pub mod tunnel_inproc;
pub mod tunnel_scene;
pub mod udp;
pub mod udp_counter;
pub mod unbound;

use std::time::Duration;

/// Upper bound of every wait in the harness: a peer starting, a log line
/// appearing, a client finishing. Generous, because the tests must not depend
/// on the speed of the machine; reaching it is a failure, never a pass.
pub const WAIT: Duration = Duration::from_secs(10);

/// Interval between two polls of a condition that has no event to wait on.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `cond` until it returns `Some`, or `timeout` passes (`None`).
pub fn poll_until<T>(timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = cond() {
            return Some(value);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}
