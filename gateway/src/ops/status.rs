//! The gateway's `/status` document ([`portico_console::Status`]): its
//! listeners, routes with their counters, tunnels with their sessions,
//! refusals by reason and ACME certificates.

use std::time::{SystemTime, UNIX_EPOCH};

use portico_config::model::Target;
use portico_console::model::{
    CertificateStatus, ListenerStatus, RefusalCount, RouteStatus, SessionStatus, Status, Totals,
    TunnelStatus,
};

use crate::acme::CertInfo;
use crate::metrics::Metrics;
use crate::route::{RouteEntry, RouteTable};

/// Unix seconds of `time` (0 before the epoch).
fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where a route sends its connections, in words.
fn target(entry: &RouteEntry) -> String {
    match &entry.target {
        Target::Backend(b) => {
            let address = match (b.port, b.host.contains(':')) {
                (Some(port), true) => format!("[{}]:{port}", b.host),
                (Some(port), false) => format!("{}:{port}", b.host),
                (None, true) => format!("[{}]", b.host),
                (None, false) => b.host.clone(),
            };
            if entry.terminate_tls {
                format!("terminate, backend {address}")
            } else {
                format!("backend {address}")
            }
        }
        Target::Tunnel(name) if entry.access.exit => format!("tunnel {name} (exit)"),
        Target::Tunnel(name) => format!("tunnel {name}"),
    }
}

/// The routes of `table` with their counters.
pub fn routes(table: &RouteTable) -> Vec<RouteStatus> {
    table
        .entries()
        .iter()
        .map(|entry| {
            let figures = entry.counters.0.figures();
            RouteStatus {
                hosts: entry.label.split(',').map(str::to_owned).collect(),
                target: target(entry),
                connections: figures.connections,
                active: figures.active,
                bytes_to_backend: figures.to_backend,
                bytes_to_client: figures.to_client,
            }
        })
        .collect()
}

/// The parts of the document that the running gateway hands in.
pub struct Parts<'a> {
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// The listeners, sorted by bind address.
    pub listeners: Vec<ListenerStatus>,
    /// The current route table.
    pub routes: &'a RouteTable,
    /// Every configured tunnel with its sessions.
    pub tunnels: Vec<crate::tunnel::TunnelStatus>,
    /// The ACME certificates served.
    pub acme: Vec<CertInfo>,
    /// The counters.
    pub metrics: &'a Metrics,
}

/// The document, as of now.
pub fn build(parts: Parts<'_>) -> Status {
    let (connections, active, bytes) = parts.metrics.totals();
    Status {
        program: "portico-gateway".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: parts.uptime_seconds,
        now: unix(SystemTime::now()),
        totals: Totals {
            connections,
            active,
            bytes,
        },
        listeners: parts.listeners,
        routes: routes(parts.routes),
        tunnels: parts
            .tunnels
            .into_iter()
            .map(|t| TunnelStatus {
                name: t.name,
                sessions: t
                    .sessions
                    .into_iter()
                    .map(|s| SessionStatus {
                        remote: s.remote.to_string(),
                        transport: "quic".to_owned(),
                        since: s.since,
                        open_streams: s.open_streams,
                        bytes_to_client: s.bytes_to_client,
                        bytes_to_gateway: s.bytes_to_gateway,
                    })
                    .collect(),
            })
            .collect(),
        refusals: parts
            .metrics
            .refusals_by_reason()
            .into_iter()
            .map(|(reason, total)| RefusalCount {
                reason,
                total,
                recent: total,
            })
            .collect(),
        refusal_window_seconds: parts.uptime_seconds,
        acme: parts
            .acme
            .into_iter()
            .map(|c| CertificateStatus {
                not_after: unix(c.not_after),
                name: c.name,
                serial: c.serial,
            })
            .collect(),
        history: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_sniff::Protocol;

    fn table(toml_routes: &str) -> RouteTable {
        let config = portico_config::parse_gateway(
            &format!("[[listener]]\nbind = \"127.0.0.1:1\"\n\n{toml_routes}"),
            std::path::Path::new("/t/gateway.toml"),
        )
        .expect("valid routes");
        RouteTable::build(&config.routes, false).expect("table")
    }

    #[test]
    fn routes_carry_their_target_and_counters() {
        let t = table(
            "[[route]]\nhosts = [\"a.test\", \"*.b.test\"]\nbackend = \"[2001:db8::1]:443\"\n\n\
             [[route]]\nhosts = [\"*\"]\nbackend = \"10.0.0.1\"\n",
        );
        let first = t.entries().first().expect("route");
        first.counters.0.open().add_bytes(5, 7);
        let routes = routes(&t);
        assert_eq!(routes[0].hosts, ["a.test", "*.b.test"]);
        assert_eq!(routes[0].target, "backend [2001:db8::1]:443");
        assert_eq!(
            (
                routes[0].connections,
                routes[0].active,
                routes[0].bytes_to_backend
            ),
            (1, 0, 5)
        );
        assert_eq!(routes[1].target, "backend 10.0.0.1");
        // A reload keeps the counters of a route with the same hosts.
        let config = portico_config::parse_gateway(
            "[[listener]]\nbind = \"127.0.0.1:1\"\n\n[[route]]\nhosts = [\"a.test\", \"*.b.test\"]\nbackend = \"10.9.9.9:1\"\n",
            std::path::Path::new("/t/g.toml"),
        )
        .expect("valid");
        let next = RouteTable::build_after(&config.routes, false, Some(&t)).expect("table");
        assert_eq!(super::routes(&next)[0].connections, 1);
    }

    #[test]
    fn refusals_are_summed_by_reason() {
        let metrics = Metrics::default();
        metrics.count_refusal("a", Some(Protocol::Http), "no_route");
        metrics.count_refusal("b", Some(Protocol::Tls), "no_route");
        metrics.count_refusal("b", None, "denied");
        let t = table("[[route]]\nhosts = [\"a.test\"]\nbackend = \"10.0.0.1:1\"\n");
        let status = build(Parts {
            uptime_seconds: 3,
            listeners: Vec::new(),
            routes: &t,
            tunnels: Vec::new(),
            acme: Vec::new(),
            metrics: &metrics,
        });
        let reasons: Vec<(&str, u64)> = status
            .refusals
            .iter()
            .map(|r| (r.reason.as_str(), r.total))
            .collect();
        assert_eq!(reasons, [("denied", 1), ("no_route", 2)]);
        assert_eq!(status.program, "portico-gateway");
    }
}
