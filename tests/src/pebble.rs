//! Pebble (a test ACME server) and pebble-challtestsrv (its DNS, answering
//! 127.0.0.1 for every name) on loopback, with HTTP-01 validation sent to a
//! port the test chooses, and `lego` as a real ACME client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::certs::TestCa;
use crate::clients::curl;
use crate::net::{free_port, wait_listening};
use crate::process::{Output, Peer, run};
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
    acme_port: u16,
    mgmt_port: u16,
    /// The CA that signed Pebble's own HTTPS certificate (not its issuing root).
    pub https_ca: PathBuf,
}

impl Pebble {
    /// Starts both; Pebble validates HTTP-01 on 127.0.0.1:`http_port`.
    pub fn start(http_port: u16) -> Pebble {
        let pebble = require("pebble", "pebble");
        let challtestsrv = require("pebble-challtestsrv", "pebble");
        let dir = tempfile::tempdir().expect("tempdir");
        TestCa::create(dir.path(), &["localhost"]);
        let https_ca = dir.path().join("ca.pem");
        let (acme_port, mgmt_port, tls_port, dns_port, dns_mgmt) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
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
        let pebble = Peer::spawn(
            "pebble",
            Command::new(pebble)
                .arg("-config")
                .arg(&config_path)
                .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0"),
            &dir.path().join("pebble.log"),
        );
        wait_listening("pebble", &[acme_port, mgmt_port]);
        Pebble {
            pebble: Some(pebble),
            _dns: dns,
            dir,
            acme_port,
            mgmt_port,
            https_ca,
        }
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// Pebble's log so far.
    pub fn log(&self) -> String {
        self.pebble.as_ref().map(Peer::log).unwrap_or_default()
    }

    /// Writes Pebble's issuing root (new on every start) to `dir/root.pem`.
    pub fn write_issuing_root(&self, dir: &Path) -> PathBuf {
        let url = format!("https://127.0.0.1:{}/roots/0", self.mgmt_port);
        let ca = self.https_ca.display().to_string();
        let out = curl(&["--fail", "--cacert", &ca, &url]);
        assert!(out.status.success(), "issuing root: {}", out.all());
        let path = dir.join("root.pem");
        std::fs::write(&path, &out.stdout).expect("write root");
        path
    }

    /// Stops Pebble (its DNS stays): a CA that cannot be reached.
    pub fn stop(&mut self) {
        self.pebble = None;
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
