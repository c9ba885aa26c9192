//! Real third-party clients run to completion with a bounded time: curl,
//! `openssl s_client`, `dig`, and the slixmpp script in `tests/scripts/`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::process::{Output, run_bounded};
use crate::tools::{python_with_slixmpp, require, script};

/// curl's own time limit in seconds, below the harness bound so that curl
/// reports its own error rather than being killed.
const CURL_MAX_TIME: &str = "8";

/// `curl -sS --max-time 8 <args>`.
pub fn curl(args: &[&str]) -> Output {
    run_bounded(
        Command::new(require("curl", "curl"))
            .args(["-sS", "--max-time", CURL_MAX_TIME])
            .args(args),
    )
}

/// `curl --resolve name:port:<ip>` for a URL on `name` at the gateway
/// address `addr`, printing the body then
/// `\nstatus=<code> http=<version> lport=<curl's local port>`.
pub fn curl_via(addr: SocketAddr, url: &str, name: &str, extra: &[&str]) -> Output {
    let resolve = format!("{name}:{}:{}", addr.port(), addr.ip());
    let mut args = vec![
        "-g",
        "--resolve",
        &resolve,
        "-w",
        "\nstatus=%{http_code} http=%{http_version} lport=%{local_port}\n",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    curl(&args)
}

/// `openssl s_client -connect addr -servername name` with stdin closed (it
/// ends after the handshake or the alert).
pub fn s_client(addr: SocketAddr, name: &str, ca: &Path) -> Output {
    run_bounded(
        Command::new(require("openssl", "openssl"))
            .args([
                "s_client",
                "-connect",
                &addr.to_string(),
                "-servername",
                name,
            ])
            .arg("-CAfile")
            .arg(ca),
    )
}

/// `dig @server -p port -b source name +short +tries=1 +time=3`: one UDP
/// query for the A record of `name`, sent from `source` (address and port),
/// waiting at most 3 s for the answer.
pub fn dig(server: SocketAddr, source: SocketAddr, name: &str) -> Output {
    run_bounded(
        Command::new(require("dig", "bind9-dnsutils"))
            .arg(format!("@{}", server.ip()))
            .args(["-p", &server.port().to_string()])
            .args(["-b", &format!("{}#{}", source.ip(), source.port())])
            .args([name, "A", "+short", "+tries=1", "+time=3"]),
    )
}

/// Runs `tests/scripts/xmpp_login.py`: `user@domain` logs in at `addr` with
/// STARTTLS (CA `ca`), sends itself a message and reads it back. Prints
/// `LOGIN OK` on success.
pub fn xmpp_login(addr: SocketAddr, jid: &str, password: &str, ca: &Path) -> Output {
    run_bounded(
        Command::new(python_with_slixmpp())
            .arg(script("xmpp_login.py"))
            .args([
                &addr.ip().to_string(),
                &addr.port().to_string(),
                jid,
                password,
            ])
            .arg(ca),
    )
}
