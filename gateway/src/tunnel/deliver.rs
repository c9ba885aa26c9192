//! One client connection routed to a tunnel: pick a live session, open a
//! stream carrying the connection's header, relay; answer "backend
//! unreachable" when no session is live or the tunnel client cannot
//! deliver the connection before answering it.

use std::sync::Arc;

use portico_link::StreamHeader;
use quinn::{RecvStream, SendStream};
use tokio::net::TcpStream;

use super::probe;
use super::registry::TunnelRegistry;
use super::session::LiveSession;
use crate::accept::Peeked;
use crate::forward::quic::{Ends, RelayError, relay};
use crate::metrics::Outcome;
use crate::refuse::{Reason, Refusal, Scope};

/// Sessions of one tunnel tried, in round-robin order, when opening a
/// stream fails; past this the connection is refused.
pub(crate) const MAX_OPEN_ATTEMPTS: usize = 3;

/// A session and a stream opened on it.
type Opened = (Arc<LiveSession>, (SendStream, RecvStream));

/// Opens a stream on a live session of `name` (trying the next one if a
/// session turns out to be gone); the error is the detail to log.
async fn open(
    registry: &TunnelRegistry,
    name: &str,
    header: &StreamHeader,
) -> Result<Opened, String> {
    let attempts = registry.session_count(name).min(MAX_OPEN_ATTEMPTS);
    let mut detail = format!("tunnel {name} is not connected");
    for _ in 0..attempts {
        let Some(live) = registry.pick(name) else {
            break;
        };
        match live.session.open_stream(header).await {
            Ok(stream) => return Ok((live, stream)),
            Err(err) => {
                if err.is_session_lost() {
                    registry.remove(&live);
                }
                detail = format!("tunnel {name}: {err}");
            }
        }
    }
    Err(detail)
}

/// Forwards a sniffed connection into tunnel `name` of `registry`, or
/// refuses it.
pub(crate) async fn deliver(
    mut stream: TcpStream,
    peeked: Peeked,
    name: &str,
    registry: &Arc<TunnelRegistry>,
    scope: Scope<'_>,
) {
    let protocol = peeked.detection.protocol;
    let host = peeked.detection.host.as_ref();
    let header = StreamHeader {
        client: peeked.client,
        reached: peeked.reached,
        protocol: Some(protocol),
        host: host.cloned(),
    };
    let opened = tokio::select! {
        opened = open(registry, name, &header) => opened,
        () = scope.hard_stop.cancelled() => return,
    };
    let refusal = |detail| Refusal {
        client: peeked.client,
        protocol: Some(protocol),
        host,
        reason: Reason::Unreachable,
        detail,
    };
    let (live, link_stream) = match opened {
        Ok(opened) => opened,
        Err(detail) => {
            scope
                .refuse(&mut stream, &peeked.buf, refusal(&detail))
                .await;
            return;
        }
    };
    registry.metrics().tunnels.count_stream(name);
    let _open = live.stream_opened();
    let ends = Ends {
        idle: scope.settings.idle_timeout,
        shutdown: scope.hard_stop.clone(),
        answered: tokio_util::sync::CancellationToken::new(),
    };
    // Until the first answer, watch the session: if the tunnel client died
    // silently, the watch closes the session and this stream ends as
    // undelivered instead of hanging.
    let _stop_watch = ends.answered.clone().drop_guard();
    let (registry, watched, answered) = (
        Arc::clone(registry),
        Arc::clone(&live),
        ends.answered.clone(),
    );
    tokio::spawn(async move { probe::watch_until(&registry, &watched, answered).await });
    // Every byte read so far except a dial line.
    let prefix = peeked
        .buf
        .get(peeked.detection.consume..)
        .unwrap_or_default();
    tracing::debug!(client = %peeked.client, protocol = protocol.as_str(), tunnel = name, remote = %live.remote, "forwarding into tunnel");
    let listener = scope.listener;
    let relayed = relay(
        &mut stream,
        link_stream,
        prefix,
        &ends,
        [&*listener.metrics, &*live],
    )
    .await;
    match relayed {
        Err(RelayError::Undelivered(detail)) => {
            scope
                .refuse(&mut stream, &peeked.buf, refusal(&detail))
                .await;
        }
        Ok(totals) => {
            listener
                .metrics
                .count_connection(Some(protocol), Outcome::Forwarded);
            tracing::debug!(
                client = %peeked.client,
                tunnel = name,
                to_tunnel = totals.to_backend,
                to_client = totals.to_client,
                end = ?totals.end,
                "connection finished"
            );
        }
        Err(err) => {
            listener
                .metrics
                .count_connection(Some(protocol), Outcome::Forwarded);
            tracing::debug!(client = %peeked.client, tunnel = name, error = %err, "connection ended with an error");
        }
    }
}
