//! Pebble (a test ACME server) and pebble-challtestsrv (its DNS, answering
//! 127.0.0.1 for every name) on loopback, with HTTP-01 validation sent to a
//! port the test chooses, and `lego` as a real ACME client. Used by the
//! tests of the gateway binary and by the in-process tests of its ACME
//! manager; Pebble can be stopped and restarted on the same ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::certs::TestCa;
use crate::net::{free_port, free_udp_port};
use crate::process::{Output, Peer, run};
use crate::tls::https_get;
use crate::tools::require;

/// Lifetime of the certificates Pebble issues here: 30 days, so that a
/// `renew_before` of up to 365 days makes a certificate due at once.
pub const CERT_VALIDITY_SECS: u64 = 30 * 24 * 3600;

/// Bound on one `lego run` (account, order, validation, download).
pub const LEGO_BOUND: Duration = Duration::from_secs(60);

/// Pebble and its DNS; both killed on drop.
#[derive(Debug)]
pub struct Pebble {
    pebble: Option<Peer>,
    _dns: Peer,
    dir: TempDir,
    config: PathBuf,
    dns_port: u16,
    acme_port: u16,
    mgmt_port: u16,
    /// The CA that signed Pebble's own HTTPS certificate (not its issuing root).
    pub https_ca: PathBuf,
}

impl Pebble {
    /// Starts both; Pebble validates HTTP-01 on 127.0.0.1:`http_port`.
    pub fn start(http_port: u16) -> Pebble {
        let challtestsrv = require("pebble-challtestsrv", "pebble");
        require("pebble", "pebble");
        let dir = tempfile::tempdir().expect("tempdir");
        TestCa::create(dir.path(), &["localhost"]);
        let https_ca = dir.path().join("ca.pem");
        let (acme_port, mgmt_port, tls_port, dns_port, dns_mgmt) = (
            free_port(),
            free_port(),
            free_port(),
            free_udp_port(),
            free_port(),
        );
        let config = format!(
            r#"{{"pebble": {{
  "listenAddress": "127.0.0.1:{acme_port}",
  "managementListenAddress": "127.0.0.1:{mgmt_port}",
  "certificate": "{cert}",
  "privateKey": "{key}",
  "httpPort": {http_port},
  "tlsPort": {tls_port},
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "certificateValidityPeriod": {CERT_VALIDITY_SECS}
}}}}"#,
            cert = dir.path().join("localhost.pem").display(),
            key = dir.path().join("localhost.key").display(),
        );
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config).expect("write pebble config");
        let dns = Peer::spawn(
            "pebble-challtestsrv",
            Command::new(challtestsrv)
                .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
                .args(["-management", &format!("127.0.0.1:{dns_mgmt}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]),
            &dir.path().join("challtestsrv.log"),
        );
        let mut fixture = Pebble {
            pebble: None,
            _dns: dns,
            dir,
            config: config_path,
            dns_port,
            acme_port,
            mgmt_port,
            https_ca,
        };
        fixture.spawn();
        fixture
    }

    /// Starts Pebble itself on the configured ports and waits until it
    /// listens.
    fn spawn(&mut self) {
        let log = self.dir.path().join("pebble.log");
        // Keep the log of an earlier run: `Peer::spawn` truncates.
        let earlier = std::fs::read_to_string(&log).unwrap_or_default();
        if !earlier.is_empty() {
            std::fs::write(self.dir.path().join("pebble.earlier.log"), earlier)
                .expect("keep pebble log");
        }
        let mut pebble = Peer::spawn(
            "pebble",
            Command::new(require("pebble", "pebble"))
                .arg("-config")
                .arg(&self.config)
                .args(["-dnsserver", &format!("127.0.0.1:{}", self.dns_port)])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0"),
            &log,
        );
        pebble.wait_listening(&[self.acme_port, self.mgmt_port]);
        self.pebble = Some(pebble);
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// Pebble's log so far.
    pub fn log(&self) -> String {
        self.pebble.as_ref().map(Peer::log).unwrap_or_default()
    }

    /// Pebble's issuing root (new on every start), fetched from its
    /// management interface.
    pub fn issuing_root(&self) -> Vec<u8> {
        let ca = std::fs::read(&self.https_ca).expect("read pebble's HTTPS CA");
        https_get(self.mgmt_port, "/roots/0", &ca)
            .unwrap_or_else(|e| panic!("pebble's issuing root: {e:#}"))
    }

    /// Writes Pebble's issuing root to `dir/root.pem`.
    pub fn write_issuing_root(&self, dir: &Path) -> PathBuf {
        let path = dir.join("root.pem");
        std::fs::write(&path, self.issuing_root()).expect("write root");
        path
    }

    /// Stops Pebble (its DNS stays): a CA that cannot be reached.
    pub fn stop(&mut self) {
        self.pebble = None;
    }

    /// Stops Pebble and starts it again on the same ports: a CA that has
    /// forgotten every account, order and root.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `lego` obtaining a certificate for `domain` with its HTTP-01 server
    /// on `http_listen` (`127.0.0.1:PORT`), storing under `dir`.
    pub fn lego(&self, domain: &str, http_listen: SocketAddr, dir: &Path) -> Output {
        let lego = require("lego", "lego");
        run(
            Command::new(lego)
                .env("LEGO_CA_CERTIFICATES", &self.https_ca)
                .args(["--server", &self.directory()])
                .args(["--accept-tos", "--email", "a@b.test"])
                .args(["--domains", domain])
                .args(["--http", "--http.port", &http_listen.to_string()])
                .arg("--path")
                .arg(dir)
                .arg("run"),
            LEGO_BOUND,
        )
    }

    /// Where the logs are kept.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
