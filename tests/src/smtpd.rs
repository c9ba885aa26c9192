//! OpenSMTPD on a loopback port, in the foreground: a real server that
//! speaks first (`220 … ESMTP OpenSMTPD`) and rejects every message.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use tempfile::TempDir;

use crate::net::{free_port, v4};
use crate::process::Peer;
use crate::tools::require;

/// A running `smtpd -d`.
pub struct Smtpd {
    peer: Peer,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Smtpd {
    /// Starts it on a free loopback port and waits until it listens.
    pub fn start() -> Smtpd {
        let smtpd = require("smtpd", "opensmtpd");
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = v4(free_port());
        let conf = dir.path().join("smtpd.conf");
        std::fs::write(
            &conf,
            format!(
                "listen on {} port {}\naction \"deliver\" mbox\nmatch from any for any reject\n",
                addr.ip(),
                addr.port()
            ),
        )
        .expect("write smtpd.conf");
        // smtpd refuses a configuration others may write.
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600))
            .expect("chmod smtpd.conf");
        let mut peer = Peer::spawn(
            "smtpd",
            Command::new(smtpd).arg("-d").arg("-f").arg(&conf),
            &dir.path().join("smtpd.log"),
        );
        peer.wait_listening(&[addr.port()]);
        Smtpd {
            peer,
            addr,
            _dir: dir,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }
}
