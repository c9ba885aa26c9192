//! The `/status` JSON document of the admin endpoint.

use std::fmt::Write as _;

/// One listener in `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerStatus {
    /// Its configured bind address.
    pub bind: String,
    /// The protocols it detects.
    pub protocols: Vec<&'static str>,
    /// Its open connections.
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

/// Renders the status document. No tunnel client can connect yet, so
/// `tunnels` is always empty.
pub fn render(uptime_seconds: u64, listeners: &[ListenerStatus], routes: usize) -> String {
    let listeners: Vec<String> = listeners
        .iter()
        .map(|l| {
            let protocols: Vec<String> = l.protocols.iter().map(|p| json_string(p)).collect();
            format!(
                "{{\"bind\":{},\"protocols\":[{}],\"active\":{}}}",
                json_string(&l.bind),
                protocols.join(","),
                l.active
            )
        })
        .collect();
    format!(
        "{{\"version\":{},\"uptime_seconds\":{uptime_seconds},\"listeners\":[{}],\"routes\":{routes},\"tunnels\":[]}}\n",
        json_string(env!("CARGO_PKG_VERSION")),
        listeners.join(",")
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
                protocols: vec!["tls", "http"],
                active: 3,
            }],
            5,
        );
        assert_eq!(
            text,
            format!(
                "{{\"version\":\"{}\",\"uptime_seconds\":42,\"listeners\":[{{\"bind\":\"[::]:443\",\
                 \"protocols\":[\"tls\",\"http\"],\"active\":3}}],\"routes\":5,\"tunnels\":[]}}\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
