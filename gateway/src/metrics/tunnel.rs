//! Counters of the tunnel link: live sessions and forwarded streams by
//! tunnel name, refused sessions by reason, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use portico_link::RefuseReason;

/// The refusal label for a session over the session caps.
pub const SESSION_LIMIT: &str = "session_limit";

/// The refusal label of a link refusal reason.
pub fn refusal_label(reason: RefuseReason) -> &'static str {
    match reason {
        RefuseReason::UnknownName => "unknown_name",
        RefuseReason::BadToken => "bad_token",
        RefuseReason::UnsupportedVersion => "unsupported_version",
        RefuseReason::RateLimited => "rate_limited",
    }
}

/// Tunnel counters. Names come from the configuration (a bounded set), so
/// the maps stay small; they are touched once per session or stream.
#[derive(Debug, Default)]
pub struct TunnelMetrics {
    sessions: Mutex<BTreeMap<String, i64>>,
    streams: Mutex<BTreeMap<String, u64>>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

impl TunnelMetrics {
    /// Makes tunnel `name` show (at zero) before its first session.
    pub fn declare(&self, name: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.entry(name.to_owned()).or_insert(0);
        drop(sessions);
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.entry(name.to_owned()).or_insert(0);
    }

    /// A session of tunnel `name` came up.
    pub fn session_opened(&self, name: &str) {
        let mut map = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(name.to_owned()).or_insert(0) += 1;
    }

    /// A session of tunnel `name` went away.
    pub fn session_closed(&self, name: &str) {
        let mut map = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(name.to_owned()).or_insert(0) -= 1;
    }

    /// Live sessions of tunnel `name`.
    pub fn sessions(&self, name: &str) -> i64 {
        let map = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(name).copied().unwrap_or(0)
    }

    /// A stream was opened to tunnel `name`.
    pub fn count_stream(&self, name: &str) {
        let mut map = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(name.to_owned()).or_insert(0) += 1;
    }

    /// A session was refused for `reason` (a label).
    pub fn count_refusal(&self, reason: &'static str) {
        let mut map = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(reason).or_insert(0) += 1;
    }

    /// Refused sessions by reason label.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        let map = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(reason, n)| (*reason, *n)).collect()
    }

    /// Appends the tunnel metrics to `out`.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP portico_tunnel_sessions Live tunnel sessions by tunnel name.\n");
        out.push_str("# TYPE portico_tunnel_sessions gauge\n");
        let sessions = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (name, n) in sessions {
            let _ = writeln!(
                out,
                "portico_tunnel_sessions{{name=\"{}\"}} {n}",
                label(&name)
            );
        }
        out.push_str(
            "# HELP portico_tunnel_streams_total Connections forwarded into tunnels by name.\n",
        );
        out.push_str("# TYPE portico_tunnel_streams_total counter\n");
        let streams = self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (name, n) in streams {
            let _ = writeln!(
                out,
                "portico_tunnel_streams_total{{name=\"{}\"}} {n}",
                label(&name)
            );
        }
        out.push_str("# HELP portico_tunnel_refusals_total Refused tunnel sessions by reason.\n");
        out.push_str("# TYPE portico_tunnel_refusals_total counter\n");
        let refusals = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (reason, n) in refusals {
            let _ = writeln!(
                out,
                "portico_tunnel_refusals_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }
}

/// A Prometheus label value for `text` (backslash, quote and newline escaped).
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_gauges_counters_and_escapes_names() {
        let m = TunnelMetrics::default();
        m.session_opened("home");
        m.session_opened("home");
        m.session_closed("home");
        m.session_opened("a\"b");
        m.count_stream("home");
        m.count_refusal(refusal_label(RefuseReason::BadToken));
        m.count_refusal(SESSION_LIMIT);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("portico_tunnel_sessions{name=\"home\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("portico_tunnel_sessions{name=\"a\\\"b\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("portico_tunnel_streams_total{name=\"home\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("portico_tunnel_refusals_total{reason=\"bad_token\"} 1\n"));
        assert!(out.contains("portico_tunnel_refusals_total{reason=\"session_limit\"} 1\n"));
        assert_eq!(m.sessions("home"), 1);
    }

    #[test]
    fn every_reason_has_its_own_label() {
        let labels: std::collections::BTreeSet<_> =
            RefuseReason::ALL.into_iter().map(refusal_label).collect();
        assert_eq!(labels.len(), RefuseReason::ALL.len());
        assert!(!labels.contains(SESSION_LIMIT));
    }
}
