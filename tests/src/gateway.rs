//! The real `portico-gateway` binary under test: configuration written to a
//! temporary directory, stderr kept in a log for assertions, readiness taken
//! from its listening (TCP) and bound (UDP) sockets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::WAIT;
use crate::binaries::binary;
use crate::netns::Netns;
use crate::process::{Output, Peer, run_bounded};
use crate::tools::require;
use crate::udp::wait_bound_udp;

/// How to start the gateway beyond its configuration.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// Run under `prlimit --nofile=N:N` (file-descriptor limit).
    pub nofile: Option<u64>,
}

/// A running gateway; killed and reaped on drop (log printed on failure).
#[derive(Debug)]
pub struct Gateway {
    peer: Peer,
    config: PathBuf,
    _dir: TempDir,
}

impl Gateway {
    /// Starts the gateway with `toml` and waits until every TCP `bind` of
    /// the configuration listens and every `[[udp_listener]]` is bound.
    pub fn start(toml: &str) -> Gateway {
        Self::start_with(toml, &GatewayOptions::default())
    }

    /// [`Gateway::start`] with options.
    pub fn start_with(toml: &str, options: &GatewayOptions) -> Gateway {
        Self::launch(toml, options, None)
    }

    /// [`Gateway::start`] inside the network namespace `netns`; readiness
    /// is read from that namespace's sockets.
    pub fn start_in(netns: &Netns, toml: &str) -> Gateway {
        Self::launch(toml, &GatewayOptions::default(), Some(netns))
    }

    fn launch(toml: &str, options: &GatewayOptions, netns: Option<&Netns>) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("gateway.toml");
        std::fs::write(&config, toml).expect("write config");
        let gateway = binary("portico-gateway");
        let mut cmd = match (options.nofile, netns) {
            (Some(n), _) => {
                let mut cmd = Command::new(require("prlimit", "util-linux"));
                cmd.arg(format!("--nofile={n}:{n}")).arg("--").arg(&gateway);
                cmd
            }
            (None, Some(ns)) => ns.command(&gateway),
            (None, None) => Command::new(&gateway),
        };
        cmd.arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        let peer = Peer::spawn("portico-gateway", &mut cmd, &dir.path().join("gateway.log"));
        let mut gateway = Gateway {
            peer,
            config,
            _dir: dir,
        };
        if netns.is_some() {
            gateway.peer.wait_listening_own_ns(&tcp_binds(toml));
        } else {
            gateway.peer.wait_listening(&tcp_binds(toml));
            gateway.peer.assert_running();
            wait_bound_udp("portico-gateway", &udp_binds(toml));
        }
        gateway
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.peer.pid()
    }

    /// The configuration file it runs with.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Its log (stderr) so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }

    /// Waits up to [`WAIT`] for `needle` in the log.
    pub fn wait_log(&self, needle: &str) -> bool {
        self.peer.wait_log(needle, WAIT)
    }

    /// Waits up to [`WAIT`] for one log line containing every needle;
    /// returns whether it appeared.
    pub fn wait_log_line(&self, needles: &[&str]) -> bool {
        self.peer.wait_log_line(needles, WAIT)
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) {
        self.peer.signal(signal);
    }

    /// Replaces the configuration file with `toml` and sends SIGHUP.
    pub fn reload(&self, toml: &str) {
        std::fs::write(&self.config, toml).expect("rewrite config");
        self.signal(Signal::SIGHUP);
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.peer.is_running()
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        self.peer.assert_running();
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.peer.wait_exit(timeout)
    }
}

/// `portico-gateway check --config <path>`.
pub fn check(config: &Path) -> Output {
    run_bounded(
        Command::new(binary("portico-gateway"))
            .arg("check")
            .arg("--config")
            .arg(config),
    )
}

/// The sections whose `bind` is a UDP socket.
const UDP_SECTIONS: [&str; 2] = ["[tunnels]", "[[udp_listener]]"];

/// The TCP ports of every `bind = "…"` in `toml` outside `[tunnels]` and
/// `[[udp_listener]]` (which are UDP).
pub fn tcp_binds(toml: &str) -> Vec<u16> {
    binds(toml)
        .filter(|(section, _)| !UDP_SECTIONS.contains(section))
        .map(|(_, addr)| addr.port())
        .collect()
}

/// The address of every `[[udp_listener]]`'s `bind` in `toml`.
pub fn udp_binds(toml: &str) -> Vec<SocketAddr> {
    binds(toml)
        .filter(|(section, _)| *section == "[[udp_listener]]")
        .map(|(_, addr)| addr)
        .collect()
}

/// Every `bind = "<socket address>"` in `toml`, with the header of the
/// section it is in.
fn binds(toml: &str) -> impl Iterator<Item = (&str, SocketAddr)> {
    let mut section = "";
    toml.lines().map(str::trim).filter_map(move |line| {
        if line.starts_with('[') {
            section = line;
            return None;
        }
        let value = line.strip_prefix("bind")?;
        let addr = value
            .trim()
            .trim_start_matches('=')
            .trim()
            .trim_matches('"');
        addr.parse().ok().map(|addr| (section, addr))
    })
}

#[cfg(test)]
mod tests {
    use super::{tcp_binds, udp_binds};

    #[test]
    fn binds_are_found_outside_tunnels() {
        let toml = "[[listener]]\nbind = \"127.0.0.1:8080\"\n[tunnels]\nbind = \"[::]:7443\"\n[admin]\nbind=\"[::1]:9180\"\n";
        assert_eq!(tcp_binds(toml), vec![8080, 9180]);
    }

    #[test]
    fn udp_listener_binds_are_udp() {
        let toml = "[[udp_listener]]\nname = \"dns\"\nbind = \"[::1]:5353\"\n\n[[listener]]\nbind = \"127.0.0.1:8080\"\n";
        assert_eq!(tcp_binds(toml), vec![8080]);
        assert_eq!(
            udp_binds(toml),
            vec!["[::1]:5353".parse::<std::net::SocketAddr>().unwrap()]
        );
    }
}
