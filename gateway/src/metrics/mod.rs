//! Counters of the running gateway and their Prometheus text rendering.
//!
//! The hot path only touches atomics: each listener owns a fixed grid of
//! connection counters (protocol × outcome), byte counters and an active
//! gauge. Refusals, whose label sets are many but rarely hit, live in a
//! mutex-guarded map. Each route's counters (for the console) live in its
//! route-table entry ([`RouteCounters`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use portico_sniff::Protocol;

use crate::acme::AcmeManager;

mod route;
mod tunnel;
mod udp;

pub(crate) use route::{RouteCounters, RouteGuard};
pub(crate) use tunnel::{SESSION_LIMIT, TunnelMetrics, refusal_label};
pub use udp::{Drop as UdpDrop, UdpListenerMetrics, UdpMetrics};

/// Protocol labels: index 0 is a connection whose protocol was never known.
const PROTOCOL_LABELS: [&str; 10] = [
    "unknown", "tls", "http", "xmpp", "dial", "ssh", "connect", "socks5", "other", "quic",
];

/// Upper bounds of the sniff-time histogram buckets, in seconds.
pub const SNIFF_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How a connection ended, as counted in `portico_connections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded to a backend.
    Forwarded,
    /// Answered with a refusal (or closed for a reason).
    Refused,
    /// Refused at accept by a connection cap.
    Limited,
    /// An HTTP-01 challenge answered with a redirect.
    Redirected,
    /// The client closed before a decision.
    Closed,
    /// An HTTP-01 challenge of the gateway's own ACME order, answered here.
    Answered,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Forwarded,
        Outcome::Refused,
        Outcome::Limited,
        Outcome::Redirected,
        Outcome::Closed,
        Outcome::Answered,
    ];

    fn index(self) -> usize {
        match self {
            Outcome::Forwarded => 0,
            Outcome::Refused => 1,
            Outcome::Limited => 2,
            Outcome::Redirected => 3,
            Outcome::Closed => 4,
            Outcome::Answered => 5,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Refused => "refused",
            Outcome::Limited => "limited",
            Outcome::Redirected => "redirected",
            Outcome::Closed => "client_closed",
            Outcome::Answered => "answered",
        }
    }
}

fn protocol_index(protocol: Option<Protocol>) -> usize {
    match protocol {
        None => 0,
        Some(Protocol::Tls) => 1,
        Some(Protocol::Http) => 2,
        Some(Protocol::Xmpp) => 3,
        Some(Protocol::Dial) => 4,
        Some(Protocol::Ssh) => 5,
        Some(Protocol::Connect) => 6,
        Some(Protocol::Socks5) => 7,
        Some(Protocol::Other) => 8,
        Some(Protocol::Quic) => 9,
    }
}

/// The label for an optional protocol.
pub fn protocol_label(protocol: Option<Protocol>) -> &'static str {
    PROTOCOL_LABELS
        .get(protocol_index(protocol))
        .copied()
        .unwrap_or("unknown")
}

/// Counters of one listener, labelled by its bind address.
#[derive(Debug)]
pub struct ListenerMetrics {
    name: String,
    active: AtomicI64,
    to_backend: AtomicU64,
    to_client: AtomicU64,
    connections: [[AtomicU64; 6]; PROTOCOL_LABELS.len()],
}

impl ListenerMetrics {
    fn new(name: String) -> ListenerMetrics {
        ListenerMetrics {
            name,
            active: AtomicI64::new(0),
            to_backend: AtomicU64::new(0),
            to_client: AtomicU64::new(0),
            connections: Default::default(),
        }
    }

    /// The `listener` label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts one finished connection.
    pub fn count_connection(&self, protocol: Option<Protocol>, outcome: Outcome) {
        if let Some(cell) = self
            .connections
            .get(protocol_index(protocol))
            .and_then(|row| row.get(outcome.index()))
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Open connections right now.
    pub fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Marks a connection open until the returned guard drops.
    pub fn open(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(Arc::clone(self))
    }
}

/// Keeps a connection counted in `portico_active_connections`.
#[derive(Debug)]
pub struct ActiveGuard(Arc<ListenerMetrics>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Something that counts the bytes of forwarded connections, each way: a
/// listener's counters, a tunnel session's.
pub(crate) trait CountBytes: Sync {
    /// Adds bytes sent towards the backend (or the tunnel client).
    fn add_to_backend(&self, n: u64);
    /// Adds bytes sent towards the client.
    fn add_to_client(&self, n: u64);
}

impl CountBytes for ListenerMetrics {
    fn add_to_backend(&self, n: u64) {
        self.to_backend.fetch_add(n, Ordering::Relaxed);
    }

    fn add_to_client(&self, n: u64) {
        self.to_client.fetch_add(n, Ordering::Relaxed);
    }
}

/// A refusal label set: listener, protocol, reason.
type RefusalKey = (String, &'static str, &'static str);

/// All counters of the gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    listeners: Mutex<Vec<Arc<ListenerMetrics>>>,
    refusals: Mutex<BTreeMap<RefusalKey, u64>>,
    sniff_buckets: [AtomicU64; SNIFF_BUCKETS.len()],
    sniff_count: AtomicU64,
    sniff_sum_micros: AtomicU64,
    accept_errors: AtomicU64,
    login_wrong: AtomicU64,
    login_blocked: AtomicU64,
    /// Tunnel sessions, streams and refusals.
    pub tunnels: TunnelMetrics,
    /// UDP listeners: flows, datagrams, drops.
    pub udp: UdpListenerMetrics,
    acme: OnceLock<AcmeManager>,
}

impl Metrics {
    /// The counters of listener `name`, created on first use and kept for the
    /// life of the process (a listener removed and re-added keeps counting).
    pub fn listener(&self, name: &str) -> Arc<ListenerMetrics> {
        let mut list = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = list.iter().find(|l| l.name == name) {
            return Arc::clone(found);
        }
        let created = Arc::new(ListenerMetrics::new(name.to_owned()));
        list.push(Arc::clone(&created));
        created
    }

    /// Counts a refusal.
    pub fn count_refusal(&self, listener: &str, protocol: Option<Protocol>, reason: &'static str) {
        let mut map = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry((listener.to_owned(), protocol_label(protocol), reason))
            .or_insert(0) += 1;
    }

    /// Records how long a detection took.
    pub fn observe_sniff(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in SNIFF_BUCKETS.iter().zip(&self.sniff_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sniff_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sniff_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a failed proxy login: wrong credentials, or `blocked` (too
    /// many failures from the address lately).
    pub fn count_login_failure(&self, blocked: bool) {
        let counter = if blocked {
            &self.login_blocked
        } else {
            &self.login_wrong
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections accepted (every outcome), open now, and bytes
    /// forwarded both ways, over all listeners.
    pub fn totals(&self) -> (u64, i64, u64) {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut totals = (0u64, 0i64, 0u64);
        for l in listeners.iter() {
            let connections: u64 = l
                .connections
                .iter()
                .flatten()
                .map(|c| c.load(Ordering::Relaxed))
                .sum();
            totals.0 = totals.0.saturating_add(connections);
            totals.1 = totals.1.saturating_add(l.active());
            totals.2 = totals
                .2
                .saturating_add(l.to_backend.load(Ordering::Relaxed))
                .saturating_add(l.to_client.load(Ordering::Relaxed));
        }
        totals
    }

    /// Refused connections by reason, over listeners and protocols; then
    /// refused tunnel sessions as `tunnel_<reason>`.
    pub fn refusals_by_reason(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        let refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        for ((_, _, reason), n) in refusals.iter() {
            *out.entry((*reason).to_owned()).or_insert(0) += n;
        }
        drop(refusals);
        for (reason, n) in self.tunnels.refusals() {
            *out.entry(format!("tunnel_{reason}")).or_insert(0) += n;
        }
        out
    }

    /// Counts a failed `accept`.
    pub fn count_accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let listeners: Vec<Arc<ListenerMetrics>> = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();

        out.push_str("# HELP portico_login_failures_total Failed proxy logins (connect, socks5): wrong credentials, or refused while the address is blocked.\n");
        out.push_str("# TYPE portico_login_failures_total counter\n");
        for (reason, counter) in [
            ("wrong_credentials", &self.login_wrong),
            ("login_blocked", &self.login_blocked),
        ] {
            let _ = writeln!(
                out,
                "portico_login_failures_total{{reason=\"{reason}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }

        out.push_str("# HELP portico_connections_total Client connections by listener, protocol and outcome.\n");
        out.push_str("# TYPE portico_connections_total counter\n");
        for l in &listeners {
            for (label, row) in PROTOCOL_LABELS.iter().zip(&l.connections) {
                for (outcome, cell) in Outcome::ALL.iter().zip(row) {
                    let n = cell.load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "portico_connections_total{{listener=\"{}\",protocol=\"{label}\",outcome=\"{}\"}} {n}",
                            l.name,
                            outcome.as_str()
                        );
                    }
                }
            }
        }

        out.push_str("# HELP portico_active_connections Open client connections by listener.\n");
        out.push_str("# TYPE portico_active_connections gauge\n");
        for l in &listeners {
            let _ = writeln!(
                out,
                "portico_active_connections{{listener=\"{}\"}} {}",
                l.name,
                l.active()
            );
        }

        out.push_str("# HELP portico_bytes_total Bytes forwarded by listener and direction.\n");
        out.push_str("# TYPE portico_bytes_total counter\n");
        for l in &listeners {
            for (direction, counter) in [("to_backend", &l.to_backend), ("to_client", &l.to_client)]
            {
                let _ = writeln!(
                    out,
                    "portico_bytes_total{{listener=\"{}\",direction=\"{direction}\"}} {}",
                    l.name,
                    counter.load(Ordering::Relaxed)
                );
            }
        }

        out.push_str("# HELP portico_sniff_seconds Time from accept to a routing decision.\n");
        out.push_str("# TYPE portico_sniff_seconds histogram\n");
        for (bound, bucket) in SNIFF_BUCKETS.iter().zip(&self.sniff_buckets) {
            let _ = writeln!(
                out,
                "portico_sniff_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.sniff_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "portico_sniff_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sniff_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "portico_sniff_seconds_sum {sum}");
        let _ = writeln!(out, "portico_sniff_seconds_count {count}");

        out.push_str(
            "# HELP portico_refusals_total Refused connections by listener, protocol and reason.\n",
        );
        out.push_str("# TYPE portico_refusals_total counter\n");
        let refusals = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for ((listener, protocol, reason), n) in refusals {
            let _ = writeln!(
                out,
                "portico_refusals_total{{listener=\"{listener}\",protocol=\"{protocol}\",reason=\"{reason}\"}} {n}"
            );
        }

        out.push_str("# HELP portico_accept_errors_total Failed accept calls.\n");
        out.push_str("# TYPE portico_accept_errors_total counter\n");
        let _ = writeln!(
            out,
            "portico_accept_errors_total {}",
            self.accept_errors.load(Ordering::Relaxed)
        );
        self.tunnels.render(&mut out);
        self.udp.render(&mut out);
        if let Some(acme) = self.acme.get() {
            render_acme(&mut out, acme);
        }
        out
    }

    /// Reports the counters of `manager` from now on (once; a second call
    /// is ignored).
    pub fn set_acme(&self, manager: AcmeManager) {
        let _ = self.acme.set(manager);
    }
}

/// The `[acme]` counters.
fn render_acme(out: &mut String, acme: &AcmeManager) {
    let counters = acme.counters();
    out.push_str("# HELP portico_acme_renewals_total Certificates obtained from the ACME server (first issuance and renewals).\n");
    out.push_str("# TYPE portico_acme_renewals_total counter\n");
    let _ = writeln!(
        out,
        "portico_acme_renewals_total {}",
        counters.certificates_issued
    );
    out.push_str("# HELP portico_acme_failures_total ACME rounds that failed and were retried with back-off.\n");
    out.push_str("# TYPE portico_acme_failures_total counter\n");
    let _ = writeln!(
        out,
        "portico_acme_failures_total {}",
        counters.failed_rounds
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        let l = m.listener("127.0.0.1:443");
        l.count_connection(Some(Protocol::Tls), Outcome::Forwarded);
        l.count_connection(Some(Protocol::Tls), Outcome::Forwarded);
        l.count_connection(None, Outcome::Limited);
        l.add_to_backend(10);
        l.add_to_client(20);
        m.count_refusal("127.0.0.1:443", Some(Protocol::Http), "no_route");
        m.count_accept_error();
        let text = m.render();
        assert!(text.contains(
            "portico_connections_total{listener=\"127.0.0.1:443\",protocol=\"tls\",outcome=\"forwarded\"} 2\n"
        ));
        assert!(text.contains(
            "portico_connections_total{listener=\"127.0.0.1:443\",protocol=\"unknown\",outcome=\"limited\"} 1\n"
        ));
        assert!(text.contains(
            "portico_bytes_total{listener=\"127.0.0.1:443\",direction=\"to_backend\"} 10\n"
        ));
        assert!(text.contains(
            "portico_bytes_total{listener=\"127.0.0.1:443\",direction=\"to_client\"} 20\n"
        ));
        assert!(text.contains(
            "portico_refusals_total{listener=\"127.0.0.1:443\",protocol=\"http\",reason=\"no_route\"} 1\n"
        ));
        assert!(text.contains("portico_accept_errors_total 1\n"));
    }

    #[test]
    fn active_gauge_follows_guards_and_listener_is_shared() {
        let m = Metrics::default();
        let l = m.listener("[::]:80");
        let g1 = l.open();
        let _g2 = m.listener("[::]:80").open();
        assert!(
            m.render()
                .contains("portico_active_connections{listener=\"[::]:80\"} 2\n")
        );
        drop(g1);
        assert!(
            m.render()
                .contains("portico_active_connections{listener=\"[::]:80\"} 1\n")
        );
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_sniff(Duration::from_micros(50));
        m.observe_sniff(Duration::from_millis(3));
        m.observe_sniff(Duration::from_secs(10));
        let text = m.render();
        assert!(
            text.contains("portico_sniff_seconds_bucket{le=\"0.0001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("portico_sniff_seconds_bucket{le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("portico_sniff_seconds_bucket{le=\"5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("portico_sniff_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("portico_sniff_seconds_count 3\n"), "{text}");
    }
}
