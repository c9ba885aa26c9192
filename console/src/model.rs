//! The `/status` document: what both programs report about themselves,
//! read by the live page, the `status` commands and any script. Fields
//! a program does not have are empty; unknown fields are ignored on
//! reading, so an older `status` command reads a newer document.

use serde::{Deserialize, Serialize};

/// The whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// `portico-gateway` or `portico-tunnel`.
    pub program: String,
    /// The program's version.
    pub version: String,
    /// Seconds since the program started.
    pub uptime_seconds: u64,
    /// The clock of the program when it wrote the document, Unix seconds.
    pub now: u64,
    /// Counters over all listeners (gateway) or all streams (tunnel client).
    pub totals: Totals,
    /// The gateway's listeners (none on the tunnel client).
    pub listeners: Vec<ListenerStatus>,
    /// The gateway's routes, or the tunnel client's services (bytes to
    /// the backend: to the service; to the client: from the service).
    pub routes: Vec<RouteStatus>,
    /// Tunnels with their live sessions: every configured tunnel on the
    /// gateway; the client's own session(s) on the tunnel client.
    pub tunnels: Vec<TunnelStatus>,
    /// Refused connections (and tunnel sessions) by reason.
    pub refusals: Vec<RefusalCount>,
    /// The span `recent` refusal counts cover, in seconds.
    pub refusal_window_seconds: u64,
    /// The gateway's ACME certificates.
    pub acme: Vec<CertificateStatus>,
    /// Samples of the totals, oldest first (for the chart).
    pub history: Vec<Sample>,
}

/// Cumulative counters and the open-connection gauge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Connections accepted (gateway) or streams received (tunnel client).
    pub connections: u64,
    /// Open right now.
    pub active: i64,
    /// Bytes forwarded, both directions together.
    pub bytes: u64,
}

/// One listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListenerStatus {
    /// Its configured bind address.
    pub bind: String,
    /// `"tcp"` for a `[[listener]]`, `"udp"` for a `[[udp_listener]]`
    /// (whose `active` counts open flows).
    pub transport: String,
    /// The protocols it detects.
    pub protocols: Vec<String>,
    /// Its open connections.
    pub active: i64,
}

/// One route (gateway) or service (tunnel client).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteStatus {
    /// Its host patterns.
    pub hosts: Vec<String>,
    /// Where it sends connections, e.g. `backend 10.0.0.7:443` or `tunnel home`.
    pub target: String,
    /// Connections it took since start (or since the route appeared).
    pub connections: u64,
    /// Open right now.
    pub active: i64,
    /// Bytes sent towards the backend, counted when a connection ends.
    pub bytes_to_backend: u64,
    /// Bytes sent towards the client, counted when a connection ends.
    pub bytes_to_client: u64,
}

/// One tunnel and its sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TunnelStatus {
    /// The tunnel's name.
    pub name: String,
    /// Its live sessions, oldest first.
    pub sessions: Vec<SessionStatus>,
}

/// One live session of the link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionStatus {
    /// The other end: the tunnel client's address on the gateway, the
    /// gateway's on the tunnel client.
    pub remote: String,
    /// The transport, e.g. `quic`.
    pub transport: String,
    /// Established at, Unix seconds.
    pub since: u64,
    /// Forwarded connections open on it.
    pub open_streams: u64,
    /// Bytes the gateway sent to the tunnel client.
    pub bytes_to_client: u64,
    /// Bytes the tunnel client sent to the gateway.
    pub bytes_to_gateway: u64,
}

/// Refusals of one reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefusalCount {
    /// The reason label, as in `portico_refusals_total`.
    pub reason: String,
    /// Since start.
    pub total: u64,
    /// Within the last `refusal_window_seconds`.
    pub recent: u64,
}

/// One certificate the gateway obtained with ACME.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateStatus {
    /// The name it was issued for.
    pub name: String,
    /// Expiry, Unix seconds.
    pub not_after: u64,
    /// Its serial number.
    pub serial: String,
}

/// The totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    /// When, Unix seconds.
    pub at: u64,
    /// Cumulative connections.
    pub connections: u64,
    /// Open connections.
    pub active: i64,
    /// Cumulative bytes.
    pub bytes: u64,
    /// Cumulative refusals, all reasons.
    pub refusals: u64,
}

impl Status {
    /// The document as JSON, with a final newline.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (no maps with
        // non-string keys, no custom serialisers); an empty object stands
        // in should it ever.
        let mut text = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        text.push('\n');
        text
    }

    /// All refusals since start.
    pub fn refusals_total(&self) -> u64 {
        self.refusals.iter().map(|r| r.total).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_unknown_and_missing_fields() {
        let mut status = Status {
            program: "portico-gateway".into(),
            ..Status::default()
        };
        status.tunnels.push(TunnelStatus {
            name: "home".into(),
            sessions: vec![SessionStatus {
                remote: "192.0.2.1:4000".into(),
                transport: "quic".into(),
                ..SessionStatus::default()
            }],
        });
        let json = status.to_json();
        assert!(
            json.contains(
                "\"tunnels\":[{\"name\":\"home\",\"sessions\":[{\"remote\":\"192.0.2.1:4000\""
            ),
            "{json}"
        );
        let back: Status = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, status);
        let partial: Status =
            serde_json::from_str("{\"program\":\"x\",\"future\":[1,2]}").expect("parse");
        assert_eq!(partial.program, "x");
    }
}
