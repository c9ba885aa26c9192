//! A real Caddy serving one name over HTTPS and HTTP/3 (TCP and UDP on one
//! loopback port) with a given certificate, answering every request with a
//! line that names it and the HTTP version the request came in.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

use crate::net::{free_port, wait_listening};
use crate::process::Peer;
use crate::tools::require;
use crate::udp::wait_bound_udp;

/// A running `caddy run`; killed and reaped on drop.
#[derive(Debug)]
pub struct Caddy {
    addr: SocketAddr,
    peer: Peer,
    _dir: TempDir,
}

impl Caddy {
    /// Serves `name` on `addr` (TCP for HTTP/1.1 and HTTP/2, UDP for
    /// HTTP/3) with `cert` and `key`; every answer is
    /// `backend=<label> proto=<HTTP/x>`. Waits until both sockets are open.
    /// Caddy's admin API, automatic HTTPS and trust-store changes are off,
    /// and its state stays in a temporary directory.
    pub fn start(addr: SocketAddr, name: &str, cert: &Path, key: &Path, label: &str) -> Caddy {
        let caddy = require("caddy", "caddy");
        let dir = tempfile::tempdir().expect("tempdir");
        let caddyfile = format!(
            "{{\n\
             \tadmin off\n\
             \tauto_https off\n\
             \tskip_install_trust\n\
             \thttp_port {http}\n\
             \thttps_port {port}\n\
             \tservers {{\n\
             \t\tprotocols h1 h2 h3\n\
             \t}}\n\
             }}\n\
             https://{name}:{port} {{\n\
             \tbind {ip}\n\
             \ttls {cert} {key}\n\
             \trespond \"backend={label} proto={{http.request.proto}}\"\n\
             }}\n",
            http = free_port(),
            port = addr.port(),
            ip = addr.ip(),
            cert = cert.display(),
            key = key.display(),
        );
        let path = dir.path().join("Caddyfile");
        std::fs::write(&path, caddyfile).expect("write Caddyfile");
        let mut cmd = Command::new(caddy);
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"));
        let mut peer = Peer::spawn("caddy", &mut cmd, &dir.path().join("caddy.log"));
        peer.assert_running();
        wait_listening("caddy", &[addr.port()]);
        wait_bound_udp("caddy", &[addr]);
        Caddy {
            addr,
            peer,
            _dir: dir,
        }
    }

    /// Where it serves (TCP and UDP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }
}
