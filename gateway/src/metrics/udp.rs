//! Counters of the UDP listeners: flows (opened by protocol, open now),
//! datagrams and bytes each way, and datagrams dropped by reason, in the
//! Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use portico_sniff::Protocol;

/// Why a datagram was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// The flow's name (or, nameless, the `*` route) has no route here.
    NoRoute,
    /// A QUIC flow that cannot be read: bad packets, too many datagrams
    /// before the hello, a CONNECTION_CLOSE, an oversized hello.
    InvalidQuic,
    /// Not QUIC, on a listener without `other`.
    NotQuic,
    /// A QUIC version other than v1 and v2 (answered with Version
    /// Negotiation when the datagram is large enough).
    UnknownVersion,
    /// The flow did not complete its hello within `peek_timeout` (or
    /// before `flow_idle` ended it).
    PeekTimeout,
    /// Over `max_flows` or `max_flows_per_ip`.
    FlowLimit,
    /// A flow's held datagrams while its route is decided or its backend
    /// socket is made are over their cap.
    HeldOverCap,
    /// The backend could not be resolved or its socket made.
    BackendUnreachable,
    /// A socket would block or failed to send.
    SendFailed,
    /// The client's address is refused by the route's `allow`/`deny`.
    Denied,
}

impl Drop {
    /// Every reason, in label order.
    pub const ALL: [Drop; 10] = [
        Drop::NoRoute,
        Drop::InvalidQuic,
        Drop::NotQuic,
        Drop::UnknownVersion,
        Drop::PeekTimeout,
        Drop::FlowLimit,
        Drop::HeldOverCap,
        Drop::BackendUnreachable,
        Drop::SendFailed,
        Drop::Denied,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::NoRoute => "no_route",
            Drop::InvalidQuic => "invalid_quic",
            Drop::NotQuic => "not_quic",
            Drop::UnknownVersion => "unknown_version",
            Drop::PeekTimeout => "peek_timeout",
            Drop::FlowLimit => "flow_limit",
            Drop::HeldOverCap => "held_over_cap",
            Drop::BackendUnreachable => "backend_unreachable",
            Drop::SendFailed => "send_failed",
            Drop::Denied => "denied",
        }
    }

    fn index(self) -> usize {
        Drop::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }
}

/// The counters of one UDP listener.
#[derive(Debug)]
pub struct UdpMetrics {
    name: String,
    flows_quic: AtomicU64,
    flows_other: AtomicU64,
    open: AtomicI64,
    datagrams_in: AtomicU64,
    datagrams_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    drops: [AtomicU64; Drop::ALL.len()],
}

impl UdpMetrics {
    fn new(name: String) -> UdpMetrics {
        UdpMetrics {
            name,
            flows_quic: AtomicU64::new(0),
            flows_other: AtomicU64::new(0),
            open: AtomicI64::new(0),
            datagrams_in: AtomicU64::new(0),
            datagrams_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            drops: Default::default(),
        }
    }

    /// The listener's label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A flow was routed to a backend.
    pub fn flow_routed(&self, protocol: Protocol) {
        let counter = if protocol == Protocol::Quic {
            &self.flows_quic
        } else {
            &self.flows_other
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets how many flows are open (routed, held or blocked).
    pub fn set_open(&self, n: usize) {
        self.open
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Flows open now.
    pub fn open(&self) -> i64 {
        self.open.load(Ordering::Relaxed)
    }

    /// A datagram of `n` bytes went from a client to a backend.
    pub fn to_backend(&self, n: usize) {
        self.datagrams_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A datagram of `n` bytes went from a backend to a client.
    pub fn to_client(&self, n: usize) {
        self.datagrams_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A run of `count` datagrams, `bytes` in all, went to a backend.
    pub fn to_backend_run(&self, count: u64, bytes: usize) {
        self.datagrams_in.fetch_add(count, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A run of `count` datagrams, `bytes` in all, went to a client.
    pub fn to_client_run(&self, count: u64, bytes: usize) {
        self.datagrams_out.fetch_add(count, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `n` datagrams were dropped for `reason`.
    pub fn dropped(&self, reason: Drop, n: u64) {
        if let Some(c) = self.drops.get(reason.index()) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Datagrams dropped for `reason` so far.
    pub fn drops(&self, reason: Drop) -> u64 {
        self.drops
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Datagrams forwarded to backends so far.
    pub fn datagrams_to_backend(&self) -> u64 {
        self.datagrams_in.load(Ordering::Relaxed)
    }
}

/// The UDP listeners' counters, kept for the life of the process.
#[derive(Debug, Default)]
pub struct UdpListenerMetrics {
    listeners: Mutex<Vec<Arc<UdpMetrics>>>,
}

impl UdpListenerMetrics {
    /// The counters of UDP listener `name`, created on first use.
    pub fn listener(&self, name: &str) -> Arc<UdpMetrics> {
        let mut list = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = list.iter().find(|l| l.name == name) {
            return Arc::clone(found);
        }
        let created = Arc::new(UdpMetrics::new(name.to_owned()));
        list.push(Arc::clone(&created));
        created
    }

    /// Appends the UDP metrics in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let list: Vec<Arc<UdpMetrics>> = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if list.is_empty() {
            return;
        }
        out.push_str("# HELP portico_udp_flows_total UDP flows routed to a backend, by listener and protocol.\n");
        out.push_str("# TYPE portico_udp_flows_total counter\n");
        for l in &list {
            for (protocol, c) in [("quic", &l.flows_quic), ("other", &l.flows_other)] {
                let _ = writeln!(
                    out,
                    "portico_udp_flows_total{{listener=\"{}\",protocol=\"{protocol}\"}} {}",
                    l.name,
                    c.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP portico_udp_open_flows UDP flows open now (routed, held or blocked), by listener.\n");
        out.push_str("# TYPE portico_udp_open_flows gauge\n");
        for l in &list {
            let _ = writeln!(
                out,
                "portico_udp_open_flows{{listener=\"{}\"}} {}",
                l.name,
                l.open()
            );
        }
        out.push_str("# HELP portico_udp_datagrams_total UDP datagrams forwarded, by listener and direction.\n");
        out.push_str("# TYPE portico_udp_datagrams_total counter\n");
        out.push_str(
            "# HELP portico_udp_bytes_total UDP payload bytes forwarded, by listener and direction.\n",
        );
        out.push_str("# TYPE portico_udp_bytes_total counter\n");
        for l in &list {
            for (direction, datagrams, bytes) in [
                ("to_backend", &l.datagrams_in, &l.bytes_in),
                ("to_client", &l.datagrams_out, &l.bytes_out),
            ] {
                let _ = writeln!(
                    out,
                    "portico_udp_datagrams_total{{listener=\"{}\",direction=\"{direction}\"}} {}",
                    l.name,
                    datagrams.load(Ordering::Relaxed)
                );
                let _ = writeln!(
                    out,
                    "portico_udp_bytes_total{{listener=\"{}\",direction=\"{direction}\"}} {}",
                    l.name,
                    bytes.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str(
            "# HELP portico_udp_drops_total UDP datagrams not forwarded, by listener and reason.\n",
        );
        out.push_str("# TYPE portico_udp_drops_total counter\n");
        for l in &list {
            for reason in Drop::ALL {
                let n = l.drops(reason);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "portico_udp_drops_total{{listener=\"{}\",reason=\"{}\"}} {n}",
                        l.name,
                        reason.as_str()
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_flows_datagrams_and_drops() {
        let all = UdpListenerMetrics::default();
        let m = all.listener("dns");
        assert!(Arc::ptr_eq(&m, &all.listener("dns")));
        m.flow_routed(Protocol::Other);
        m.to_backend(40);
        m.to_client(100);
        m.dropped(Drop::FlowLimit, 3);
        m.set_open(1);
        let mut out = String::new();
        all.render(&mut out);
        assert!(out.contains("portico_udp_flows_total{listener=\"dns\",protocol=\"other\"} 1"));
        assert!(out.contains("portico_udp_open_flows{listener=\"dns\"} 1"));
        assert!(
            out.contains("portico_udp_bytes_total{listener=\"dns\",direction=\"to_client\"} 100")
        );
        assert!(out.contains("portico_udp_drops_total{listener=\"dns\",reason=\"flow_limit\"} 3"));
        assert!(!out.contains("reason=\"no_route\""));
    }
}
