//! OpenSSH's `sshd` on 127.0.0.1 with its own host key and one authorized
//! client key, for a dial-line test with `ssh -o ProxyCommand=…`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::net::{free_port, v4};
use crate::process::{Output, Peer, run_bounded};
use crate::tools::require;

/// A running `sshd -D`; killed on drop.
#[derive(Debug)]
pub struct Sshd {
    peer: Peer,
    addr: SocketAddr,
    dir: TempDir,
}

fn keygen(path: &Path) {
    let out = run_bounded(
        Command::new(require("ssh-keygen", "openssh-client"))
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path),
    );
    assert!(out.status.success(), "ssh-keygen: {}", out.all());
}

impl Sshd {
    /// Starts sshd accepting the current user with a fresh client key.
    pub fn start() -> Sshd {
        let sshd = require("sshd", "openssh-server");
        // sshd's compiled-in privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let addr = v4(free_port());
        let conf = format!(
            "ListenAddress {addr}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nLoginGraceTime 10\n",
            d = d.display()
        );
        let conf_path = d.join("sshd_config");
        std::fs::write(&conf_path, conf).expect("write sshd_config");
        let mut peer = Peer::spawn(
            "sshd",
            Command::new(sshd).args(["-D", "-e", "-f"]).arg(&conf_path),
            &d.join("sshd.log"),
        );
        peer.wait_listening(&[addr.port()]);
        Sshd { peer, addr, dir }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }

    /// Runs `ssh <host> <command>` with the authorized key, connecting
    /// through `proxy_command` (OpenSSH `%h`/`%p` tokens allowed).
    pub fn ssh(&self, host: &str, proxy_command: &str, command: &str) -> Output {
        let key: PathBuf = self.dir.path().join("client_key");
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        run_bounded(
            Command::new(require("ssh", "openssh-client"))
                .arg("-i")
                .arg(key)
                .args([
                    "-F",
                    "/dev/null",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=8",
                ])
                .args([
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                ])
                .args(["-o", &format!("ProxyCommand={proxy_command}")])
                .args(["-l", &user, host, command]),
        )
    }
}
