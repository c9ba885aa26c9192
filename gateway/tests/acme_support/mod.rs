//! Shared pieces of the ACME tests: test PKI, loopback ports, bounded waits,
//! and the [`pebble`], [`responder`] and [`tls`] helpers.

pub mod pebble;
pub mod responder;
pub mod tls;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Bound on every wait in these tests (a hang fails instead of blocking forever).
pub const WAIT_BOUND: Duration = Duration::from_secs(90);
/// Bound on each socket read and write in these tests.
pub const IO_BOUND: Duration = Duration::from_secs(10);

/// Fails with an install hint when `program` is not on PATH.
pub fn require(program: &str) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| dir.join(program).is_file()) {
        return Ok(());
    }
    bail!("{program} not found: install it with `apt-get install -y pebble`")
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A CA (CA:TRUE) and a leaf for `localhost`/127.0.0.1 signed by it (CA:FALSE),
/// written as `ca.pem`, `leaf.pem`, `leaf.key` in `dir`.
pub fn write_test_pki(dir: &Path) -> Result<PathBuf> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "acme test CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
    let leaf_key = rcgen::KeyPair::generate()?;
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf_params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("leaf.pem"), leaf.pem())?;
    std::fs::write(dir.join("leaf.key"), leaf_key.serialize_pem())?;
    Ok(dir.join("ca.pem"))
}

/// Waits (bounded by [`WAIT_BOUND`]) until `done` holds.
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > WAIT_BOUND {
            bail!("gave up waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// ACME settings for tests: short retries and polls, and the test log
/// installed once (`RUST_LOG`, default `portico_gateway=debug`).
pub fn fast_acme_settings() -> portico_gateway::acme::AcmeSettings {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "portico_gateway=debug".into()),
        )
        .try_init();
    portico_gateway::acme::AcmeSettings {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        order_timeout: Duration::from_secs(60),
        poll_initial: Duration::from_millis(100),
        check_interval: Duration::from_secs(3600),
        http_timeout: Duration::from_secs(10),
        ..portico_gateway::acme::AcmeSettings::default()
    }
}
