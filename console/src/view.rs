//! The status picture as tables of text: one function decides the columns
//! and cells, and both the HTML page ([`crate::page`]) and the terminal
//! ([`crate::table`]) show them. (The page's script mirrors these columns.)

use crate::human;
use crate::model::Status;

/// One table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The element id of its body on the page, e.g. `routes`.
    pub id: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// Column headings.
    pub headers: Vec<String>,
    /// Which columns hold numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// The cells, row by row.
    pub rows: Vec<Vec<String>>,
    /// What an empty table says.
    pub empty: &'static str,
}

/// Whether the document comes from the tunnel client.
fn is_tunnel(status: &Status) -> bool {
    status.program == "portico-tunnel"
}

/// One line about the whole program: uptime, open connections, totals.
pub fn summary(status: &Status) -> String {
    format!(
        "up {} · {} open · {} connection{} · {} forwarded · {} refused",
        human::duration(status.uptime_seconds),
        status.totals.active,
        status.totals.connections,
        if status.totals.connections == 1 {
            ""
        } else {
            "s"
        },
        human::bytes(status.totals.bytes),
        status.refusals_total()
    )
}

/// The tables, in page order.
pub fn views(status: &Status) -> Vec<View> {
    let tunnel = is_tunnel(status);
    let mut out = Vec::new();
    if !tunnel {
        out.push(listeners(status));
    }
    out.push(routes(status, tunnel));
    out.push(sessions(status));
    out.push(refusals(status));
    if !tunnel {
        out.push(certificates(status));
    }
    out
}

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// A listener's bind address, marked when it is a UDP listener.
fn listener_name(l: &crate::model::ListenerStatus) -> String {
    if l.transport == "udp" {
        format!("{} (udp)", l.bind)
    } else {
        l.bind.clone()
    }
}

fn listeners(status: &Status) -> View {
    View {
        id: "listeners",
        title: "Listeners",
        headers: headers(&["bind", "protocols", "open"]),
        numeric: vec![false, false, true],
        rows: status
            .listeners
            .iter()
            .map(|l| {
                vec![
                    listener_name(l),
                    l.protocols.join(" "),
                    l.active.to_string(),
                ]
            })
            .collect(),
        empty: "no listener",
    }
}

fn routes(status: &Status, tunnel: bool) -> View {
    let (title, names, empty) = if tunnel {
        (
            "Services",
            [
                "hosts",
                "delivered to",
                "connections",
                "open",
                "to service",
                "from service",
            ],
            "no service",
        )
    } else {
        (
            "Routes",
            [
                "hosts",
                "target",
                "connections",
                "open",
                "to backend",
                "to client",
            ],
            "no route",
        )
    };
    View {
        id: "routes",
        title,
        headers: headers(&names),
        numeric: vec![false, false, true, true, true, true],
        rows: status
            .routes
            .iter()
            .map(|r| {
                vec![
                    r.hosts.join(" "),
                    r.target.clone(),
                    r.connections.to_string(),
                    r.active.to_string(),
                    human::bytes(r.bytes_to_backend),
                    human::bytes(r.bytes_to_client),
                ]
            })
            .collect(),
        empty,
    }
}

fn sessions(status: &Status) -> View {
    let mut rows = Vec::new();
    for t in &status.tunnels {
        if t.sessions.is_empty() {
            rows.push(vec![
                t.name.clone(),
                "no session".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for s in &t.sessions {
            rows.push(vec![
                t.name.clone(),
                s.remote.clone(),
                s.transport.clone(),
                human::ago(s.since, status.now),
                s.open_streams.to_string(),
                human::bytes(s.bytes_to_client),
                human::bytes(s.bytes_to_gateway),
            ]);
        }
    }
    View {
        id: "tunnels",
        title: "Tunnel sessions",
        headers: headers(&[
            "tunnel",
            "remote",
            "transport",
            "since",
            "streams",
            "to client",
            "to gateway",
        ]),
        numeric: vec![false, false, false, false, true, true, true],
        rows,
        empty: "no tunnel",
    }
}

fn refusals(status: &Status) -> View {
    View {
        id: "refusals",
        title: "Refusals",
        headers: vec![
            "reason".to_owned(),
            format!("last {}", human::duration(status.refusal_window_seconds)),
            "total".to_owned(),
        ],
        numeric: vec![false, true, true],
        rows: status
            .refusals
            .iter()
            .map(|r| vec![r.reason.clone(), r.recent.to_string(), r.total.to_string()])
            .collect(),
        empty: "no refusal",
    }
}

fn certificates(status: &Status) -> View {
    View {
        id: "acme",
        title: "ACME certificates",
        headers: headers(&["name", "expires", "serial"]),
        numeric: vec![false, false, false],
        rows: status
            .acme
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    human::until(c.not_after, status.now),
                    c.serial.clone(),
                ]
            })
            .collect(),
        empty: "no certificate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SessionStatus, TunnelStatus};

    #[test]
    fn the_tunnel_client_shows_services_and_no_listeners() {
        let status = Status {
            program: "portico-tunnel".into(),
            now: 100,
            tunnels: vec![TunnelStatus {
                name: "home".into(),
                sessions: vec![SessionStatus {
                    remote: "192.0.2.1:7443".into(),
                    transport: "quic".into(),
                    since: 40,
                    open_streams: 2,
                    ..SessionStatus::default()
                }],
            }],
            ..Status::default()
        };
        let views = views(&status);
        let ids: Vec<&str> = views.iter().map(|v| v.id).collect();
        assert_eq!(ids, ["routes", "tunnels", "refusals"]);
        assert_eq!(views[0].title, "Services");
        assert_eq!(
            views[1].rows,
            [[
                "home",
                "192.0.2.1:7443",
                "quic",
                "1m 0s ago",
                "2",
                "0 B",
                "0 B"
            ]]
        );
    }
}
