//! Prosody as an XMPP backend on 127.0.0.1 (c2s with STARTTLS) for one
//! virtual host, with users registered before it starts. As root it runs as
//! the packaged `prosody` user through `setpriv`.

use std::net::SocketAddr;
use std::process::Command;

use tempfile::TempDir;

use crate::certs::TestCa;
use crate::net::{free_port, v4};
use crate::process::{Peer, run_bounded};
use crate::tools::require;

/// A running Prosody; killed on drop.
#[derive(Debug)]
pub struct Prosody {
    peer: Peer,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Prosody {
    /// Starts Prosody serving `domain` (certificate from `ca`) with the
    /// `users` (name, password) registered.
    pub fn start(domain: &str, ca: &TestCa, users: &[(&str, &str)]) -> Prosody {
        let prosody = require("prosody", "prosody");
        let prosodyctl = require("prosodyctl", "prosody");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let certs = d.join("certs");
        std::fs::create_dir_all(d.join("data")).expect("data dir");
        std::fs::create_dir_all(&certs).expect("certs dir");
        std::fs::copy(ca.cert(domain), certs.join(format!("{domain}.crt"))).expect("copy cert");
        std::fs::copy(ca.key(domain), certs.join(format!("{domain}.key"))).expect("copy key");
        let addr = v4(free_port());
        let conf = format!(
            "pidfile = \"{d}/prosody.pid\"\ndata_path = \"{d}/data\"\n\
             interfaces = {{ \"127.0.0.1\" }}\nc2s_ports = {{ {port} }}\n\
             c2s_direct_tls_ports = {{ }}\ns2s_ports = {{ }}\n\
             modules_enabled = {{ \"roster\"; \"saslauth\"; \"tls\"; \"disco\"; \"ping\"; \"posix\" }}\n\
             modules_disabled = {{ \"s2s\" }}\n\
             authentication = \"internal_hashed\"\nstorage = \"internal\"\n\
             c2s_require_encryption = true\n\
             log = {{ {{ levels = {{ min = \"info\" }}, to = \"console\" }} }}\n\
             certificates = \"{certs}\"\nVirtualHost \"{domain}\"\n",
            d = d.display(),
            port = addr.port(),
            certs = certs.display()
        );
        let conf_path = d.join("prosody.cfg.lua");
        std::fs::write(&conf_path, conf).expect("write prosody config");
        let as_root = nix::unistd::Uid::effective().is_root();
        if as_root {
            let chown = run_bounded(Command::new("chown").args(["-R", "prosody:prosody"]).arg(d));
            assert!(chown.status.success(), "chown prosody: {}", chown.all());
        }
        for (user, password) in users {
            let out = run_bounded(
                Command::new(&prosodyctl)
                    .arg("--config")
                    .arg(&conf_path)
                    .args(["register", user, domain, password]),
            );
            assert!(
                out.status.success(),
                "prosodyctl register {user}: {}",
                out.all()
            );
        }
        let mut cmd = if as_root {
            let mut cmd = Command::new(require("setpriv", "util-linux"));
            cmd.args(["--reuid=prosody", "--regid=prosody", "--init-groups"])
                .arg(prosody);
            cmd
        } else {
            Command::new(prosody)
        };
        cmd.arg("-F").arg("--config").arg(&conf_path);
        let mut peer = Peer::spawn("prosody", &mut cmd, &d.join("prosody.log"));
        peer.wait_listening(&[addr.port()]);
        Prosody {
            peer,
            addr,
            _dir: dir,
        }
    }

    /// Its c2s address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }
}
