//! Liveness checks of tunnel sessions. A tunnel client that dies without
//! closing its connection (killed, host gone, link cut) leaves a session
//! that looks live until the idle timeout; streams sent to it would hang.
//!
//! A probe sends the peer something it must acknowledge (an empty QUIC
//! datagram) and watches the connection's received-datagram counter: a
//! live peer answers within a round trip plus its ack delay. A session
//! that stays silent for [`PROBE_WAIT`] is closed and forgotten, which
//! also ends, as undelivered, any stream that was waiting on it.
//!
//! Probes run when a new session of the same name comes up (the old one
//! is likely a restarted client's; it is skipped while the probe runs) and,
//! repeatedly, while a stream waits for its first answer (at most one
//! probe per session at a time).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use portico_link::codes;
use tokio_util::sync::CancellationToken;

use super::registry::TunnelRegistry;
use super::session::LiveSession;

/// How long a probed session may stay silent before it is closed. Several
/// round trips even on slow paths, so loss is retried by QUIC first.
pub const PROBE_WAIT: Duration = Duration::from_secs(3);
/// While a stream waits for its first answer, how often its session is
/// probed again.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How often a running probe looks at the connection's counters.
pub const PROBE_POLL: Duration = Duration::from_millis(20);

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The peer sent something after the probe started.
    Alive,
    /// Nothing arrived within [`PROBE_WAIT`].
    Silent,
    /// The connection is already closed.
    Closed,
}

/// Sends an acknowledgement-eliciting datagram and waits (up to
/// [`PROBE_WAIT`]) for any datagram from the peer.
pub async fn liveness(live: &LiveSession) -> Liveness {
    let connection = &live.session.connection;
    let before = connection.stats().udp_rx.datagrams;
    // Only fails when the peer disabled datagrams or the connection is
    // gone; then whatever the peer sends anyway still counts, and closure
    // is seen below.
    let _ = connection.send_datagram(Bytes::new());
    let watch = async {
        loop {
            if connection.close_reason().is_some() {
                return Liveness::Closed;
            }
            if connection.stats().udp_rx.datagrams > before {
                return Liveness::Alive;
            }
            tokio::time::sleep(PROBE_POLL).await;
        }
    };
    tokio::time::timeout(PROBE_WAIT, watch)
        .await
        .unwrap_or(Liveness::Silent)
}

/// Ends a probe when dropped, also when the probing future is cancelled.
struct Running<'a>(&'a LiveSession);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.end_probe();
    }
}

/// Probes `live` unless a probe of it is already running. With `suspect`,
/// new streams avoid the session while the probe runs; either way it is
/// no longer suspect when the probe ends. A silent session is closed and
/// removed from `registry`. `None` when another probe was running.
pub async fn check(
    registry: &TunnelRegistry,
    live: &Arc<LiveSession>,
    suspect: bool,
) -> Option<Liveness> {
    if !live.start_probe(suspect) {
        return None;
    }
    let running = Running(live);
    let found = liveness(live).await;
    drop(running);
    if found == Liveness::Silent {
        tracing::info!(
            tunnel = %live.session.name,
            remote = %live.remote,
            id = live.session.id,
            "closing unresponsive tunnel session"
        );
        live.session
            .connection
            .close(codes::varint(codes::CLOSE_NORMAL), b"unresponsive");
        registry.remove(live);
    }
    Some(found)
}

/// Probes `live` every [`PROBE_INTERVAL`] until `answered` fires or the
/// session is found silent or closed. Repeating matters: acknowledgements
/// of earlier traffic still in flight can make a dead peer look alive
/// once, not twice an interval apart.
pub async fn watch_until(
    registry: &TunnelRegistry,
    live: &Arc<LiveSession>,
    answered: CancellationToken,
) {
    loop {
        let found = tokio::select! {
            found = check(registry, live, false) => found,
            () = answered.cancelled() => return,
        };
        if matches!(found, Some(Liveness::Silent | Liveness::Closed)) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(PROBE_INTERVAL) => {}
            () = answered.cancelled() => return,
        }
    }
}
