//! HAProxy in TCP mode as a load balancer in front of the gateway, sending a
//! PROXY v2 header on every connection it forwards.

use std::net::SocketAddr;
use std::process::Command;

use tempfile::TempDir;

use crate::net::{free_port, v4};
use crate::process::Peer;
use crate::tools::require;

/// A running HAProxy (`-db`, foreground); killed on drop.
#[derive(Debug)]
pub struct Haproxy {
    peer: Peer,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Haproxy {
    /// Listens on a free 127.0.0.1 port and forwards every connection to
    /// `target` with `send-proxy-v2`.
    pub fn start_send_proxy_v2(target: SocketAddr) -> Haproxy {
        let haproxy = require("haproxy", "haproxy");
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = v4(free_port());
        let conf = format!(
            "global\n    log stderr format raw local0 info\n\
             defaults\n    mode tcp\n    log global\n    option tcplog\n\
             \x20   timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
             frontend e2e_in\n    bind {addr}\n    default_backend to_gateway\n\
             backend to_gateway\n    server gw {target} send-proxy-v2\n"
        );
        let conf_path = dir.path().join("haproxy.cfg");
        std::fs::write(&conf_path, conf).expect("write haproxy.cfg");
        let mut peer = Peer::spawn(
            "haproxy",
            Command::new(haproxy).arg("-db").arg("-f").arg(&conf_path),
            &dir.path().join("haproxy.log"),
        );
        peer.wait_listening(&[addr.port()]);
        Haproxy {
            peer,
            addr,
            _dir: dir,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log (one line per connection with `option tcplog`).
    pub fn log(&self) -> String {
        self.peer.log()
    }
}
