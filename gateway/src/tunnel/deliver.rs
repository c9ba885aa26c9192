//! One client connection routed to a tunnel: pick a live session, open a
//! stream carrying the connection's header, relay; answer "backend
//! unreachable" when no session is live or the tunnel client cannot
//! deliver the connection before answering it.
//!
//! A proxy client (`connect`, `socks5`) is told its target is connected
//! only once the tunnel client says so: its header asks for an answer, and
//! the gateway waits for the [`CONNECTED`] byte (at most the listener's
//! `connect_timeout` plus [`ANSWER_MARGIN`]) before it writes `200` or the
//! SOCKS5 success reply; a reset with [`codes::STREAM_EXIT_DENIED`] is
//! answered as denied (`403`, `0x02`), any other as unreachable.

use std::sync::Arc;

use std::time::Duration;

use portico_link::{CONNECTED, StreamHeader, codes};
use portico_sniff::Protocol;
use quinn::{ReadError, ReadExactError, RecvStream, SendStream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::probe;
use super::registry::TunnelRegistry;
use super::session::LiveSession;
use crate::accept::Peeked;
use crate::forward::quic::{Ends, RelayError, relay};
use crate::handshake;
use crate::metrics::Outcome;
use crate::refuse::{ANSWER_WRITE_TIMEOUT, Reason, Refusal, Scope};
use crate::route::Exit;

/// Added to the listener's `connect_timeout` for the tunnel client's answer
/// to a proxy client's stream: the link's round trip and the client's own
/// connect timeout.
pub(crate) const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// Sessions of one tunnel tried, in round-robin order, when opening a
/// stream fails; past this the connection is refused.
pub(crate) const MAX_OPEN_ATTEMPTS: usize = 3;

/// A session and a stream opened on it.
pub(crate) type Opened = (Arc<LiveSession>, (SendStream, RecvStream));

/// Opens a stream on a live session of `name` (trying the next one if a
/// session turns out to be gone); the error is the detail to log.
pub(crate) async fn open(
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

/// Waits for the tunnel client's [`CONNECTED`] byte on an answer stream;
/// the error is the refusal reason and the detail to log.
async fn await_connected(recv: &mut RecvStream, wait: Duration) -> Result<(), (Reason, String)> {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(wait, recv.read_exact(&mut byte)).await {
        Err(_) => Err((
            Reason::Unreachable,
            "no answer from the tunnel client in time".to_owned(),
        )),
        Ok(Ok(())) if byte == [CONNECTED] => Ok(()),
        Ok(Ok(())) => Err((
            Reason::Unreachable,
            format!("unexpected answer {:#04x} from the tunnel client", byte[0]),
        )),
        Ok(Err(ReadExactError::ReadError(ReadError::Reset(code))))
            if code == codes::varint(codes::STREAM_EXIT_DENIED) =>
        {
            Err((
                Reason::Denied,
                "the tunnel client's [[exit]] list does not admit the target".to_owned(),
            ))
        }
        Ok(Err(err)) => Err((Reason::Unreachable, format!("tunnel client: {err}"))),
    }
}

/// Forwards a sniffed connection into tunnel `name` of `registry` (with an
/// exit target for an `exit = true` route), or refuses it.
pub(crate) async fn deliver(
    mut stream: TcpStream,
    peeked: Peeked,
    (name, exit): (&str, Option<Exit>),
    registry: &Arc<TunnelRegistry>,
    scope: Scope<'_>,
) {
    let protocol = peeked.detection.protocol;
    let host = peeked.detection.host.as_ref();
    let answer = matches!(protocol, Protocol::Connect | Protocol::Socks5);
    let header = StreamHeader {
        client: peeked.client,
        reached: peeked.reached,
        protocol: Some(protocol),
        host: exit
            .as_ref()
            .map(|e| e.host.clone())
            .or_else(|| host.cloned()),
        answer,
        exit: exit.as_ref().map(|e| e.port),
        datagrams: false,
    };
    let opened = tokio::select! {
        opened = open(registry, name, &header) => opened,
        () = scope.hard_stop.cancelled() => return,
    };
    let refusal_for = |reason, detail| Refusal {
        client: peeked.client,
        protocol: Some(protocol),
        host,
        reason,
        detail,
    };
    let refusal = |detail| refusal_for(Reason::Unreachable, detail);
    let (live, mut link_stream) = match opened {
        Ok(opened) => opened,
        Err(detail) => {
            scope
                .refuse(&mut stream, &peeked.buf, refusal(&detail))
                .await;
            return;
        }
    };
    if answer {
        let wait = scope.settings.connect_timeout + ANSWER_MARGIN;
        if let Err((reason, detail)) = await_connected(&mut link_stream.1, wait).await {
            scope
                .refuse(&mut stream, &peeked.buf, refusal_for(reason, &detail))
                .await;
            return;
        }
        if let Some(bytes) = handshake::established(protocol, peeked.reached) {
            let written =
                tokio::time::timeout(ANSWER_WRITE_TIMEOUT, stream.write_all(&bytes)).await;
            if !matches!(written, Ok(Ok(()))) {
                return;
            }
        }
    }
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
