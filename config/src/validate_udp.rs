//! Validation of the UDP side of a gateway file: every `[[udp_listener]]`
//! (protocols `quic` and `other` only, flow limits within bounds), and the
//! routes UDP listeners use (datagrams go unchanged: no PROXY header, no TLS
//! termination, no proxy users, no exit).

use std::net::SocketAddr;

use portico_sniff::{Protocol, ProtocolSet};

use crate::diagnostics::Reporter;
use crate::fields;
use crate::model::{Route, UdpListener};
use crate::raw::{RawRoute, RawUdpListener, S};

/// The protocols a UDP listener may enable.
fn udp_protocols() -> ProtocolSet {
    ProtocolSet::only(Protocol::Quic).with(Protocol::Other)
}

/// Every `[[udp_listener]]`: no bind address twice.
pub(crate) fn udp_listeners(
    rep: &mut Reporter<'_>,
    raw: &[S<RawUdpListener>],
) -> Option<Vec<UdpListener>> {
    let mut seen: Vec<(SocketAddr, usize)> = Vec::new();
    let mut out = Some(Vec::new());
    for item in raw {
        let Some(l) = udp_listener(rep, item.get_ref()) else {
            out = None;
            continue;
        };
        let span = item.get_ref().bind.span();
        if let Some((_, first)) = seen.iter().find(|(a, _)| *a == l.bind) {
            let line = rep.line_of(*first);
            rep.error(
                span.clone(),
                format!(
                    "UDP bind address {} is already used by the udp_listener on line {line}",
                    l.bind
                ),
            );
            out = None;
        }
        seen.push((l.bind, span.start));
        if let Some(v) = out.as_mut() {
            v.push(l);
        }
    }
    out
}

/// One `[[udp_listener]]`.
fn udp_listener(rep: &mut Reporter<'_>, raw: &RawUdpListener) -> Option<UdpListener> {
    let name = match &raw.name {
        None => Some(None),
        Some(n) => fields::name(rep, n).map(Some),
    };
    let bind = fields::socket_addr(rep, &raw.bind, "udp_listener bind");
    let protocols = match &raw.protocols {
        None => Some(ProtocolSet::only(Protocol::Quic)),
        Some(list) => protocols(rep, list),
    };
    let flow_idle = match &raw.flow_idle {
        None => Some(UdpListener::DEFAULT_FLOW_IDLE),
        Some(v) => fields::duration(rep, v, "flow_idle", false),
    };
    let peek_timeout = match &raw.peek_timeout {
        None => Some(UdpListener::DEFAULT_PEEK_TIMEOUT),
        Some(v) => fields::duration(rep, v, "peek_timeout", false),
    };
    let max_flows = fields::bounded(
        rep,
        raw.max_flows.as_ref(),
        "max_flows",
        UdpListener::DEFAULT_MAX_FLOWS,
        1..=UdpListener::MAX_FLOWS_CAP,
    );
    let max_flows_per_ip = fields::bounded(
        rep,
        raw.max_flows_per_ip.as_ref(),
        "max_flows_per_ip",
        UdpListener::DEFAULT_MAX_FLOWS_PER_IP,
        1..=UdpListener::MAX_FLOWS_CAP,
    );
    let max_flows = max_flows?;
    Some(UdpListener {
        name: name?,
        bind: bind?,
        protocols: protocols?,
        flow_idle: flow_idle?,
        peek_timeout: peek_timeout?,
        max_flows,
        // More per address than in all makes no sense; keep the smaller.
        max_flows_per_ip: max_flows_per_ip?.min(max_flows),
    })
}

/// A UDP listener's `protocols`: a non-empty list of `quic` and `other`.
fn protocols(rep: &mut Reporter<'_>, list: &crate::raw::StrList) -> Option<ProtocolSet> {
    if list.get_ref().is_empty() {
        rep.error(
            list.span(),
            "empty `protocols`; a udp_listener takes \"quic\" and/or \"other\"",
        );
        return None;
    }
    let mut set = ProtocolSet::EMPTY;
    let mut ok = true;
    for name in list.get_ref() {
        match Protocol::from_name(name.get_ref()) {
            Some(p) if udp_protocols().contains(p) => set = set.with(p),
            Some(_) => {
                rep.error(
                    name.span(),
                    format!(
                        "{} is a TCP protocol; a udp_listener takes \"quic\" and/or \"other\"",
                        name.get_ref()
                    ),
                );
                ok = false;
            }
            None => {
                rep.error(
                    name.span(),
                    format!(
                        "unknown protocol `{}`; a udp_listener takes \"quic\" and/or \"other\"",
                        name.get_ref()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(set)
}

/// The UDP listener a route serves, if any: one whose protocols the route
/// shares and that its `listeners` filter (if any) names.
fn udp_listener_served<'a>(
    route: &Route,
    udp: &'a [UdpListener],
) -> Option<(&'a UdpListener, Protocol)> {
    udp.iter().find_map(|l| {
        let admitted = route.access.listeners.is_empty()
            || l.name
                .as_ref()
                .is_some_and(|n| route.access.listeners.contains(n));
        let shared = [Protocol::Quic, Protocol::Other]
            .into_iter()
            .find(|p| route.protocols.contains(*p) && l.protocols.contains(*p));
        if admitted {
            shared.map(|p| (l, p))
        } else {
            None
        }
    })
}

/// Checks the routes that UDP listeners use: datagrams go unchanged to a
/// backend or tunnel, so a PROXY header, TLS termination, proxy users and
/// `exit` are errors there (at the key that asks for them).
pub(crate) fn check_udp_routes(
    rep: &mut Reporter<'_>,
    raw: &[S<RawRoute>],
    routes: &[Route],
    udp: &[UdpListener],
) -> bool {
    let mut ok = true;
    for (item, route) in raw.iter().zip(routes) {
        let Some((listener, protocol)) = udp_listener_served(route, udp) else {
            continue;
        };
        let r = item.get_ref();
        let which = match &listener.name {
            Some(n) => format!("the udp_listener `{n}`"),
            None => format!("the udp_listener on {}", listener.bind),
        };
        let mut refuse = |rep: &mut Reporter<'_>, span: std::ops::Range<usize>, what: &str| {
            rep.error(
                span,
                format!(
                    "this route serves {which} (protocol {protocol}), whose datagrams go unchanged: {what}; limit the route with `listeners` or drop the key"
                ),
            );
            ok = false;
        };
        if let Some(p) = &r.proxy_protocol {
            refuse(rep, rep.key_span(p.span()), "a PROXY header is for TCP");
        }
        if let Some(t) = r.terminate_tls.as_ref().filter(|t| *t.get_ref()) {
            refuse(rep, rep.key_span(t.span()), "QUIC's TLS is not terminated");
        }
        if let Some(u) = &r.users {
            refuse(
                rep,
                rep.key_span(u.span()),
                "datagrams carry no credentials",
            );
        }
        if let Some(e) = r.exit.as_ref().filter(|e| *e.get_ref()) {
            refuse(
                rep,
                rep.key_span(e.span()),
                "`exit` is for connect and socks5",
            );
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_protocols_are_quic_and_other() {
        assert!(udp_protocols().contains(Protocol::Quic));
        assert!(udp_protocols().contains(Protocol::Other));
        assert!(!udp_protocols().contains(Protocol::Tls));
    }
}
