//! HTTP/3 peers made with Python's aioquic (pip): a server that answers
//! every request with a fixed body, a one-request client, and the bytes of
//! a client's first flight (real Initial packets) made without a socket.
//! The scripts are `tests/scripts/h3_server.py`, `h3_get.py` and
//! `quic_initial.py`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Output, Peer, run, run_bounded};
use crate::tools::{python_with_pip_module, script};
use crate::udp::wait_bound_udp;
use crate::{WAIT, poll_until};

/// The QUIC versions a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuicVersion {
    /// QUIC v1 only (RFC 9000).
    V1,
    /// QUIC v2 only (RFC 9369), from the first Initial on.
    V2,
    /// Starts in v1 and offers v2: the server switches the connection to
    /// v2 by compatible version negotiation (RFC 9368).
    V1ThenV2,
}

impl QuicVersion {
    fn arg(self) -> &'static str {
        match self {
            QuicVersion::V1 => "1",
            QuicVersion::V2 => "2",
            QuicVersion::V1ThenV2 => "1to2",
        }
    }

    /// The version the connection ends up in, as the scripts print it.
    pub fn negotiated(self) -> &'static str {
        match self {
            QuicVersion::V1 => "0x00000001",
            QuicVersion::V2 | QuicVersion::V1ThenV2 => "0x6b3343cf",
        }
    }
}

/// `python3` with aioquic, or a panic with the pip command.
fn python() -> PathBuf {
    python_with_pip_module("aioquic", "aioquic")
}

/// An aioquic HTTP/3 server; killed and reaped on drop.
#[derive(Debug)]
pub struct H3Server {
    addr: SocketAddr,
    peer: Peer,
    _dir: tempfile::TempDir,
}

impl H3Server {
    /// Serves HTTP/3 (QUIC v1 and v2) on UDP `addr` with `cert` and `key`,
    /// answering every request with `body`; waits until it is bound.
    pub fn start(addr: SocketAddr, cert: &Path, key: &Path, body: &str) -> H3Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(python());
        cmd.arg("-u")
            .arg(script("h3_server.py"))
            .args([addr.ip().to_string(), addr.port().to_string()])
            .arg(cert)
            .arg(key)
            .arg(body);
        let peer = Peer::spawn("aioquic h3_server", &mut cmd, &dir.path().join("h3.log"));
        let server = H3Server {
            addr,
            peer,
            _dir: dir,
        };
        assert!(
            server.peer.wait_log("LISTENING", WAIT),
            "h3_server did not start; log:\n{}",
            server.peer.log()
        );
        wait_bound_udp("h3_server", &[addr]);
        server
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests it answered: one `REQUEST <path> version=0x…` line each.
    pub fn requests(&self) -> Vec<String> {
        self.peer
            .log()
            .lines()
            .filter(|l| l.starts_with("REQUEST "))
            .map(str::to_owned)
            .collect()
    }

    /// Waits up to [`WAIT`] until it has answered `n` requests.
    pub fn wait_requests(&self, n: usize) -> bool {
        poll_until(WAIT, || (self.requests().len() >= n).then_some(())).is_some()
    }
}

/// What one `h3_get.py` run saw.
#[derive(Debug, Clone)]
pub struct H3Answer {
    /// The HTTP status, if a response came.
    pub status: Option<String>,
    /// The QUIC version of the connection, e.g. `0x00000001`.
    pub version: Option<String>,
    /// The response body.
    pub body: Option<String>,
    /// The script's whole output, for failure messages.
    pub output: Output,
}

/// One `GET /` over HTTP/3 to `addr` with the TLS server name `name`,
/// trusting `ca`, in `version`; with `big_hello`, the ClientHello offers
/// enough ALPN values to span two Initial packets. The client gives up
/// after `timeout` (the script is killed a little later if it hangs).
pub fn h3_get(
    addr: SocketAddr,
    name: &str,
    ca: &Path,
    version: QuicVersion,
    big_hello: bool,
    timeout: Duration,
) -> H3Answer {
    let mut cmd = Command::new(python());
    cmd.arg(script("h3_get.py"))
        .args([addr.ip().to_string(), addr.port().to_string()])
        .arg(name)
        .arg(ca)
        .args(["--version", version.arg()])
        .args(["--timeout", &timeout.as_secs_f64().to_string()]);
    if big_hello {
        cmd.arg("--big-hello");
    }
    let output = run(&mut cmd, timeout + WAIT);
    let field = |key: &str| {
        output
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::to_owned)
    };
    let (status, version, body) = (field("STATUS="), field("VERSION="), field("BODY="));
    H3Answer {
        status,
        version,
        body,
        output,
    }
}

/// A client's first flight for `name` in `version` (V1 or V2), made by
/// aioquic without sending it: each datagram, with the length of the QUIC
/// packet at its start (aioquic pads a shorter packet's datagram to 1,200
/// bytes with zeros).
pub fn first_flight(name: &str, version: QuicVersion, big_hello: bool) -> Vec<(usize, Vec<u8>)> {
    assert!(
        version != QuicVersion::V1ThenV2,
        "a first flight has one version"
    );
    let mut cmd = Command::new(python());
    cmd.arg(script("quic_initial.py"))
        .arg(name)
        .args(["--version", version.arg()]);
    if big_hello {
        cmd.arg("--big-hello");
    }
    let out = run_bounded(&mut cmd);
    assert!(out.status.success(), "quic_initial.py: {}", out.all());
    out.stdout
        .lines()
        .map(|line| {
            let (len, hex) = line.split_once(' ').expect("`<len> <hex>`");
            (len.parse().expect("packet length"), from_hex(hex))
        })
        .collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}
