//! The `/status` JSON document of the admin endpoint.

use std::fmt::Write as _;

use std::time::UNIX_EPOCH;

use crate::acme::CertInfo;
use crate::tunnel::TunnelStatus;

/// One listener in `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerStatus {
    /// Its configured bind address.
    pub bind: String,
    /// `"tcp"` for a `[[listener]]`, `"udp"` for a `[[udp_listener]]`.
    pub transport: &'static str,
    /// The protocols it detects.
    pub protocols: Vec<&'static str>,
    /// Its open connections (TCP) or open flows (UDP).
    pub active: i64,
}

/// A JSON string literal for `text`.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `tunnels` array: every configured tunnel with its live sessions.
fn render_tunnels(tunnels: &[TunnelStatus]) -> String {
    let tunnels: Vec<String> = tunnels
        .iter()
        .map(|t| {
            let sessions: Vec<String> = t
                .sessions
                .iter()
                .map(|s| {
                    format!(
                        "{{\"remote\":{},\"since\":{},\"open_streams\":{},\"bytes_to_client\":{},\"bytes_to_gateway\":{}}}",
                        json_string(&s.remote.to_string()),
                        s.since,
                        s.open_streams,
                        s.bytes_to_client,
                        s.bytes_to_gateway
                    )
                })
                .collect();
            format!(
                "{{\"name\":{},\"sessions\":[{}]}}",
                json_string(&t.name),
                sessions.join(",")
            )
        })
        .collect();
    format!("[{}]", tunnels.join(","))
}

/// The `acme` array: each certificate served, `not_after` in Unix seconds.
fn render_acme(certs: &[CertInfo]) -> String {
    let certs: Vec<String> = certs
        .iter()
        .map(|c| {
            let not_after = c
                .not_after
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!(
                "{{\"name\":{},\"not_after\":{not_after},\"serial\":{}}}",
                json_string(&c.name),
                json_string(&c.serial)
            )
        })
        .collect();
    format!("[{}]", certs.join(","))
}

/// Renders the status document.
pub fn render(
    uptime_seconds: u64,
    listeners: &[ListenerStatus],
    routes: usize,
    tunnels: &[TunnelStatus],
    acme: &[CertInfo],
) -> String {
    let listeners: Vec<String> = listeners
        .iter()
        .map(|l| {
            let protocols: Vec<String> = l.protocols.iter().map(|p| json_string(p)).collect();
            format!(
                "{{\"bind\":{},\"transport\":\"{}\",\"protocols\":[{}],\"active\":{}}}",
                json_string(&l.bind),
                l.transport,
                protocols.join(","),
                l.active
            )
        })
        .collect();
    format!(
        "{{\"version\":{},\"uptime_seconds\":{uptime_seconds},\"listeners\":[{}],\"routes\":{routes},\"tunnels\":{},\"acme\":{}}}\n",
        json_string(env!("CARGO_PKG_VERSION")),
        listeners.join(","),
        render_tunnels(tunnels),
        render_acme(acme)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_listeners_and_counts() {
        let text = render(
            42,
            &[ListenerStatus {
                bind: "[::]:443".into(),
                transport: "tcp",
                protocols: vec!["tls", "http"],
                active: 3,
            }],
            5,
            &[],
            &[],
        );
        assert_eq!(
            text,
            format!(
                "{{\"version\":\"{}\",\"uptime_seconds\":42,\"listeners\":[{{\"bind\":\"[::]:443\",\
                 \"transport\":\"tcp\",\"protocols\":[\"tls\",\"http\"],\"active\":3}}],\"routes\":5,\"tunnels\":[],\"acme\":[]}}\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn renders_tunnels_with_their_sessions() {
        use crate::tunnel::SessionStatus;
        let tunnels = [
            TunnelStatus {
                name: "home".into(),
                sessions: vec![SessionStatus {
                    remote: "[2001:db8::1]:4433".parse().expect("addr"),
                    since: 1_700_000_000,
                    open_streams: 2,
                    bytes_to_client: 10,
                    bytes_to_gateway: 20,
                }],
            },
            TunnelStatus {
                name: "office".into(),
                sessions: Vec::new(),
            },
        ];
        let text = render(1, &[], 0, &tunnels, &[]);
        assert!(
            text.contains(
                "\"tunnels\":[{\"name\":\"home\",\"sessions\":[{\"remote\":\"[2001:db8::1]:4433\",\
                 \"since\":1700000000,\"open_streams\":2,\"bytes_to_client\":10,\"bytes_to_gateway\":20}]},\
                 {\"name\":\"office\",\"sessions\":[]}],"
            ),
            "{text}"
        );
    }

    #[test]
    fn renders_acme_certificates() {
        let cert = CertInfo {
            name: "gw.test".into(),
            serial: "0a:1b".into(),
            not_before: UNIX_EPOCH,
            not_after: UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
        };
        let text = render(1, &[], 0, &[], &[cert]);
        assert!(
            text.ends_with(
                "\"acme\":[{\"name\":\"gw.test\",\"not_after\":1800000000,\"serial\":\"0a:1b\"}]}\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
