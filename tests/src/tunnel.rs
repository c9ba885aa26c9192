//! The real `portico-tunnel` binary under test, run inside a network
//! namespace, and the configuration pieces of both ends of a tunnel
//! (client file, gateway `[tunnels]` and `[[tunnel]]`, token files), and
//! the tunnel sessions the gateway's `/status` lists.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::WAIT;
use crate::binaries::binary;
use crate::netns::Netns;
use crate::process::Peer;

/// Log line of the tunnel client each time a session with the gateway is
/// up.
pub const SESSION_UP: &str = "session established";

/// How the tunnel client delivers `source = "original"` services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// No `[tun]`: every service is `source = "tunnel"`.
    Plain,
    /// `[tun]` with `routes = "policy"` (per-peer routes in their own table).
    Policy,
    /// `[tun]` with `routes = "main"` (per-peer routes in the main table).
    Main,
}

/// One `[[service]]` of the tunnel client.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The names it serves.
    pub hosts: Vec<String>,
    /// The local service.
    pub to: SocketAddr,
    /// `source = "original"` (true) or `"tunnel"`.
    pub original: bool,
}

impl ServiceSpec {
    /// A service for `host` at `to`.
    pub fn new(host: &str, to: SocketAddr, original: bool) -> ServiceSpec {
        ServiceSpec {
            hosts: vec![host.to_owned()],
            to,
            original,
        }
    }
}

/// Writes `token` to `dir/<name>.token`, readable by the owner only.
pub fn write_token(dir: &Path, name: &str, token: &str) -> PathBuf {
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, format!("{token}\n")).expect("write token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod token");
    path
}

/// The `[tunnels]` table and one `[[tunnel]]` per `(name, token_file)`.
pub fn gateway_tunnels(
    bind: SocketAddr,
    cert: &Path,
    key: &Path,
    clients: &[(&str, &Path)],
) -> String {
    let mut out = format!(
        "[tunnels]\nbind = \"{bind}\"\ncert = \"{}\"\nkey = \"{}\"\n\n",
        cert.display(),
        key.display()
    );
    for (name, token) in clients {
        let _ = writeln!(
            out,
            "[[tunnel]]\nname = \"{name}\"\ntoken_file = \"{}\"\n",
            token.display()
        );
    }
    out
}

/// A `[[route]]` from `hosts` to the tunnel client `name`.
pub fn tunnel_route(hosts: &[&str], name: &str) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "[[route]]\nhosts = [{}]\ntunnel = \"{name}\"\n\n",
        hosts.join(", ")
    )
}

/// A whole tunnel-client configuration.
pub fn client_config(
    gateway: SocketAddr,
    name: &str,
    token_file: &Path,
    ca: &Path,
    delivery: Delivery,
    services: &[ServiceSpec],
) -> String {
    let mut out = format!(
        "gateway = \"{gateway}\"\nname = \"{name}\"\ntoken_file = \"{}\"\nca = \"{}\"\n\n",
        token_file.display(),
        ca.display()
    );
    let routes = match delivery {
        Delivery::Plain => None,
        Delivery::Policy => Some("policy"),
        Delivery::Main => Some("main"),
    };
    if let Some(routes) = routes {
        let _ = writeln!(
            out,
            "[tun]\ndevice = \"portico0\"\naddress = \"10.77.0.1\"\naddress6 = \"fd77::1\"\n\
             routes = \"{routes}\"\ntable = 7777\n"
        );
    }
    for service in services {
        let hosts: Vec<String> = service.hosts.iter().map(|h| format!("\"{h}\"")).collect();
        let source = if service.original {
            "original"
        } else {
            "tunnel"
        };
        let _ = writeln!(
            out,
            "[[service]]\nhosts = [{}]\nto = \"{}\"\nsource = \"{source}\"\n",
            hosts.join(", "),
            service.to
        );
    }
    out
}

/// A running `portico-tunnel`; killed and reaped on drop (log printed on
/// failure).
#[derive(Debug)]
pub struct TunnelClient {
    peer: Peer,
    config: PathBuf,
    _dir: TempDir,
}

impl TunnelClient {
    /// Writes `toml` and starts the client inside `netns` (no readiness
    /// wait: see [`TunnelClient::wait_sessions`]).
    pub fn start_in(netns: &Netns, toml: &str) -> TunnelClient {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("tunnel.toml");
        std::fs::write(&config, toml).expect("write tunnel config");
        let log = dir.path().join("tunnel.log");
        let mut cmd = netns.command(binary("portico-tunnel"));
        cmd.arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        let peer = Peer::spawn("portico-tunnel", &mut cmd, &log);
        TunnelClient {
            peer,
            config,
            _dir: dir,
        }
    }

    /// Its configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Sends SIGKILL and waits for the process to be gone.
    pub fn kill9(&mut self) {
        self.peer.signal(Signal::SIGKILL);
        assert!(
            self.peer.wait_exit(WAIT).is_some(),
            "portico-tunnel survived SIGKILL for {WAIT:?}"
        );
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }

    /// How many sessions it has established so far.
    pub fn sessions(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains(SESSION_UP))
            .count()
    }

    /// Waits up to `timeout` until it has established `count` sessions in
    /// all; panics with its log otherwise.
    pub fn wait_sessions(&mut self, count: usize, timeout: Duration) {
        let ok = crate::poll_until(timeout, || {
            self.peer.assert_running();
            (self.sessions() >= count).then_some(())
        });
        assert!(
            ok.is_some(),
            "portico-tunnel did not reach {count} established sessions within {timeout:?}; log:\n{}",
            self.log()
        );
    }

    /// Waits up to `timeout` for one log line with every needle.
    pub fn wait_log_line(&self, needles: &[&str], timeout: Duration) -> bool {
        self.peer.wait_log_line(needles, timeout)
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        self.peer.assert_running();
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) {
        self.peer.signal(signal);
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.peer.wait_exit(timeout)
    }
}

/// How many sessions of the tunnel `name` the `tunnels` part of a
/// `/status` document lists (every configured tunnel is listed, with or
/// without sessions; each session carries its `remote` address).
pub fn session_count(status: &str, name: &str) -> usize {
    let Some((_, tunnels)) = status.split_once("\"tunnels\"") else {
        return 0;
    };
    let Some((_, entry)) = tunnels.split_once(&format!("\"name\":\"{name}\"")) else {
        return 0;
    };
    let entry = entry.split("\"name\":").next().unwrap_or_default();
    entry.matches("\"remote\":").count()
}

/// Whether `/status` shows at least one live session of the tunnel `name`.
pub fn tunnel_listed(status: &str, name: &str) -> bool {
    session_count(status, name) > 0
}

#[cfg(test)]
mod tests {
    use super::{Delivery, ServiceSpec, client_config, session_count, tunnel_listed, tunnel_route};
    use std::path::Path;

    #[test]
    fn client_config_has_tun_only_for_tun_delivery() {
        let gw = "192.0.2.1:7443".parse().unwrap();
        let svc = [ServiceSpec::new(
            "app.test",
            "10.77.0.1:8080".parse().unwrap(),
            true,
        )];
        let (t, ca) = (Path::new("/t"), Path::new("/ca.pem"));
        let plain = client_config(gw, "home", t, ca, Delivery::Plain, &svc);
        assert!(!plain.contains("[tun]"), "{plain}");
        let main = client_config(gw, "home", t, ca, Delivery::Main, &svc);
        assert!(main.contains("routes = \"main\""), "{main}");
        assert!(main.contains("source = \"original\""), "{main}");
    }

    #[test]
    fn tunnel_routes_name_the_tunnel() {
        assert_eq!(
            tunnel_route(&["a.test", "b.test"], "home"),
            "[[route]]\nhosts = [\"a.test\", \"b.test\"]\ntunnel = \"home\"\n\n"
        );
    }

    #[test]
    fn the_tunnel_must_be_listed_under_tunnels() {
        assert!(!tunnel_listed("{\"routes\":2,\"tunnels\":[]}", "home"));
        assert!(!tunnel_listed(
            "{\"tunnels\":[{\"name\":\"home\",\"sessions\":[]},{\"name\":\"x\",\"sessions\":[{\"remote\":\"192.0.2.3:1\"}]}]}",
            "home"
        ));
        assert!(tunnel_listed(
            "{\"tunnels\":[{\"name\":\"home\",\"sessions\":[{\"remote\":\"192.0.2.2:40000\",\"since\":1}]}]}",
            "home"
        ));
        assert!(!tunnel_listed("{\"home\":1,\"tunnels\":[]}", "home"));
        assert_eq!(
            session_count(
                "{\"tunnels\":[{\"name\":\"home\",\"sessions\":[{\"remote\":\"a\"},{\"remote\":\"b\"}]},{\"name\":\"x\",\"sessions\":[{\"remote\":\"c\"}]}]}",
                "home"
            ),
            2
        );
    }
}
