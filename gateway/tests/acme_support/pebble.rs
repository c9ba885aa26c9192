//! Pebble and pebble-challtestsrv on loopback for the tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::tls::https_get;
use super::{WAIT_BOUND, free_tcp_port, free_udp_port, require, write_test_pki};

/// Pebble and pebble-challtestsrv on random loopback ports; stopped on drop.
pub struct Pebble {
    pebble: Option<Child>,
    dns: Option<Child>,
    dir: tempfile::TempDir,
    config: PathBuf,
    /// The CA that signed Pebble's HTTPS certificate (not its issuing root).
    pub ca_pem: PathBuf,
    acme_port: u16,
    mgmt_port: u16,
    dns_port: u16,
    dns_mgmt_port: u16,
}

impl Pebble {
    /// Starts both programs; HTTP-01 validation goes to 127.0.0.1:`http_port`.
    pub fn start(http_port: u16) -> Result<Self> {
        require("pebble")?;
        require("pebble-challtestsrv")?;
        let dir = tempfile::tempdir()?;
        let ca_pem = write_test_pki(dir.path())?;
        let (acme_port, mgmt_port, tls_port) =
            (free_tcp_port()?, free_tcp_port()?, free_tcp_port()?);
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
            "certificate": dir.path().join("leaf.pem"),
            "privateKey": dir.path().join("leaf.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            // 30 days: a `renew_before` of up to 365 days makes it due at once.
            "certificateValidityPeriod": 30 * 24 * 3600,
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, serde_json::to_vec(&config)?)?;
        let mut fixture = Self {
            pebble: None,
            dns: None,
            dir,
            config: config_path,
            ca_pem,
            acme_port,
            mgmt_port,
            dns_port: free_udp_port()?,
            dns_mgmt_port: free_tcp_port()?,
        };
        fixture.spawn()?;
        Ok(fixture)
    }

    /// Starts both programs on the configured ports and waits (bounded)
    /// until Pebble answers `/dir`.
    fn spawn(&mut self) -> Result<()> {
        let dir = self.dir.path();
        let log = |name: &str| -> Result<Stdio> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))?;
            Ok(Stdio::from(file))
        };
        self.dns = Some(
            Command::new("pebble-challtestsrv")
                .args(["-dns01", &format!("127.0.0.1:{}", self.dns_port)])
                .args(["-management", &format!("127.0.0.1:{}", self.dns_mgmt_port)])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .stdout(log("challtestsrv.log")?)
                .stderr(log("challtestsrv.log")?)
                .spawn()
                .context("starting pebble-challtestsrv (apt-get install -y pebble)")?,
        );
        self.pebble = Some(
            Command::new("pebble")
                .arg("-config")
                .arg(&self.config)
                .args(["-dnsserver", &format!("127.0.0.1:{}", self.dns_port)])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .stdout(log("pebble.log")?)
                .stderr(log("pebble.log")?)
                .spawn()
                .context("starting pebble (apt-get install -y pebble)")?,
        );
        let ca = std::fs::read(&self.ca_pem)?;
        let started = Instant::now();
        while https_get(self.acme_port, "/dir", &ca).is_err() {
            if started.elapsed() > WAIT_BOUND {
                bail!("pebble did not answer /dir; logs in {}", dir.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// Where the logs are.
    pub fn log_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Pebble's issuing root (new on every start).
    pub fn issuing_root(&self) -> Result<Vec<u8>> {
        https_get(self.mgmt_port, "/roots/0", &std::fs::read(&self.ca_pem)?)
    }

    /// Stops both programs.
    pub fn stop(&mut self) {
        for mut child in [self.pebble.take(), self.dns.take()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same ports: a CA that has forgotten
    /// every account, order and root.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}
