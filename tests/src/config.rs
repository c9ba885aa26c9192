//! Pieces of gateway configuration (TOML) for tests, so each test shows only
//! what it is about.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// A `[[listener]]` on `bind` with extra `key = value` lines.
pub fn listener(bind: SocketAddr, extra: &[&str]) -> String {
    let mut out = format!("[[listener]]\nbind = \"{bind}\"\n");
    for line in extra {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    out
}

/// A `[[route]]` from `hosts` to `backend` with extra `key = value` lines.
pub fn route(hosts: &[&str], backend: SocketAddr, extra: &[&str]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let mut out = format!(
        "[[route]]\nhosts = [{}]\nbackend = \"{backend}\"\n",
        hosts.join(", ")
    );
    for line in extra {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    out
}

/// A `[limits]` table with the given `key = value` lines.
pub fn limits(lines: &[&str]) -> String {
    format!("[limits]\n{}\n\n", lines.join("\n"))
}

/// A `[[udp_listener]]` named `name` on `bind` taking `protocols` (`"quic"`,
/// `"other"`), with extra `key = value` lines.
pub fn udp_listener(name: &str, bind: SocketAddr, protocols: &[&str], extra: &[&str]) -> String {
    let protocols: Vec<String> = protocols.iter().map(|p| format!("\"{p}\"")).collect();
    let mut out = format!(
        "[[udp_listener]]\nname = \"{name}\"\nbind = \"{bind}\"\nprotocols = [{}]\n",
        protocols.join(", ")
    );
    for line in extra {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    out
}

/// An `[admin]` endpoint on `bind` (`/metrics`, `/status`, `/healthz`).
pub fn admin(bind: SocketAddr) -> String {
    format!("[admin]\nbind = \"{bind}\"\n\n")
}
