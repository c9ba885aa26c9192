//! One client connection through the pipeline: peek → HTTP-01 check (the
//! gateway's own ACME challenges first) → route → backend connector →
//! forward (or, for a tunnel route, a stream on a tunnel session:
//! [`crate::tunnel::deliver`]; for a `terminate_tls` route, the gateway's
//! TLS handshake then a plaintext copy: [`crate::terminate`]), or a
//! protocol-correct refusal. Every refusal is logged once at `info` and
//! counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use portico_config::model::Listener;
use portico_sniff::{Hostname, Limits, Protocol};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::acme_side::AcmeSide;
use crate::connect::connect;
use crate::forward::forward;
use crate::limits::{Admission, ConnectionLimits, LimitExceeded};
use crate::listener::normalise;
use crate::log_limit::{LogLimit, Verdict};
use crate::metrics::{ActiveGuard, ListenerMetrics, Metrics, Outcome, protocol_label};
use crate::peek::{PeekError, PeekSettings, Peeked, peek};
use crate::plan::{Plan, State, classify, plan};
use crate::proxy::encode_header;
use crate::refuse::{Reason, XmppHints, answer, send_and_close};
use crate::terminate::serve_terminated;
use crate::tunnel::TunnelRegistry;
use crate::tunnel::deliver::deliver;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// The current routes and HTTP-01 settings.
    pub state: ArcSwap<State>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Connection caps.
    pub limits: ConnectionLimits,
    /// Detection caps (from `[limits]`, fixed at start).
    pub sniff_limits: Limits,
    /// Fires when the shutdown grace period is over: close what is left.
    pub hard_stop: CancellationToken,
    /// Configured tunnel clients and their live sessions.
    pub tunnels: Arc<TunnelRegistry>,
    /// The ACME manager and its TLS acceptor, when `[acme]` is configured.
    pub acme: Option<AcmeSide>,
    /// The cap on refusal log lines (`[limits] refusal_log_rate`).
    pub refusal_log: LogLimit,
}

impl Shared {
    /// Whether a refusal may be logged now; logs how many were left out
    /// before it, if any.
    pub(crate) fn may_log_refusal(&self) -> bool {
        match self.refusal_log.check() {
            Verdict::Log { left_out: 0 } => true,
            Verdict::Log { left_out } => {
                tracing::info!(
                    left_out,
                    "refusals not logged (over [limits] refusal_log_rate; all are counted in the metrics)"
                );
                true
            }
            Verdict::LeaveOut => false,
        }
    }
}

/// One listener as its connections see it.
#[derive(Debug)]
pub struct ListenerContext {
    /// The `listener` label: the configured bind address.
    pub name: String,
    /// The listener's settings; a reload may replace them.
    pub settings: ArcSwap<Listener>,
    /// The address the listening socket is bound to (its real port when the
    /// configuration said 0). Where its IP is specific, every connection's
    /// local address is this one, and no system call is needed to learn it.
    pub bound: SocketAddr,
    /// Its counters.
    pub metrics: Arc<ListenerMetrics>,
}

/// Everything logged and counted about one refusal.
pub(crate) struct Refusal<'a> {
    /// The client (PROXY-carried if any).
    pub client: SocketAddr,
    /// The protocol, if known.
    pub protocol: Option<Protocol>,
    /// The name asked for, if any.
    pub host: Option<&'a Hostname>,
    /// Why.
    pub reason: Reason,
    /// Detail for the log.
    pub detail: &'a str,
}

/// Logs and counts a refusal, then answers it and closes.
pub(crate) async fn refuse(
    stream: &mut TcpStream,
    buf: &[u8],
    refusal: Refusal<'_>,
    listener: &ListenerContext,
    shared: &Shared,
) {
    let name = refusal.host.map(Hostname::as_str).unwrap_or("-");
    if shared.may_log_refusal() {
        tracing::info!(
            client = %refusal.client,
            listener = %listener.name,
            protocol = protocol_label(refusal.protocol),
            name,
            reason = refusal.reason.as_str(),
            detail = refusal.detail,
            "refused"
        );
    }
    shared
        .metrics
        .count_refusal(&listener.name, refusal.protocol, refusal.reason.as_str());
    listener
        .metrics
        .count_connection(refusal.protocol, Outcome::Refused);
    let hints = XmppHints::from_bytes(buf, refusal.host.map(|h| h.as_str().to_owned()));
    let bytes = answer(refusal.protocol, refusal.reason, &hints);
    send_and_close(stream, bytes.as_deref()).await;
}

/// Logs and counts a connection refused by a connection cap; the caller
/// closes it without an answer.
pub fn over_limit(
    client: SocketAddr,
    exceeded: LimitExceeded,
    listener: &ListenerContext,
    shared: &Shared,
) {
    let reason = exceeded.as_str();
    if shared.may_log_refusal() {
        tracing::info!(client = %client, listener = %listener.name, protocol = "unknown", name = "-", reason, "refused");
    }
    shared.metrics.count_refusal(&listener.name, None, reason);
    listener.metrics.count_connection(None, Outcome::Limited);
}

/// Peeks until a decision; refuses (or just counts a client that left) on
/// failure and returns `None`.
async fn sniff(
    stream: &mut TcpStream,
    (peer, local): (SocketAddr, SocketAddr),
    settings: &Listener,
    listener: &ListenerContext,
    shared: &Shared,
) -> Option<Peeked> {
    let peek_settings = PeekSettings {
        protocols: settings.protocols,
        limits: shared.sniff_limits,
        timeout: settings.peek_timeout,
        accept_proxy: settings.accept_proxy.clone(),
    };
    let started = Instant::now();
    let peeked = tokio::select! {
        peeked = peek(stream, peer, local, &peek_settings) => peeked,
        () = shared.hard_stop.cancelled() => return None,
    };
    shared.metrics.observe_sniff(started.elapsed());
    match peeked {
        Ok(peeked) => Some(peeked),
        Err(failure) if failure.error == PeekError::Closed => {
            tracing::debug!(client = %failure.client, "client closed before a decision");
            listener.metrics.count_connection(None, Outcome::Closed);
            None
        }
        Err(failure) => {
            let (protocol, reason) = classify(failure.error, &failure.buf, settings.protocols);
            let detail = format!("{:?}", failure.error);
            let refusal = Refusal {
                client: failure.client,
                protocol,
                host: None,
                reason,
                detail: &detail,
            };
            refuse(stream, &failure.buf, refusal, listener, shared).await;
            None
        }
    }
}

/// A connection whose backend is connected, ready to be forwarded.
struct Forwarding {
    stream: TcpStream,
    backend: TcpStream,
    /// The optional PROXY header and the bytes read while sniffing.
    prefix: Vec<u8>,
    idle: Option<std::time::Duration>,
    /// Where the bytes are counted.
    metrics: Arc<ListenerMetrics>,
    /// Fires when the shutdown grace period is over.
    hard_stop: CancellationToken,
}

/// What a forwarded connection holds for its whole life: its places under
/// the connection caps and in the active-connections gauge.
struct Held {
    _admission: Admission,
    _active: ActiveGuard,
}

/// Serves one accepted connection to its end.
///
/// Everything before forwarding (sniffing, routing, connecting, and whole
/// connections that end otherwise: refusals, TLS termination, tunnels) runs
/// in its own allocation, freed once forwarding starts, so the task of a
/// long-lived forwarded connection holds only the forwarding state (a few
/// hundred bytes: `task_size_stays_small` in the tests).
pub fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    admission: Admission,
    listener: Arc<ListenerContext>,
    shared: Arc<Shared>,
) -> impl Future<Output = ()> + Send + 'static {
    let prepared = Box::pin(prepare_owned(stream, peer, admission, listener, shared));
    async move {
        let Some((forwarding, _held)) = prepared.await else {
            return;
        };
        // Logged in the connection's span (its client); the "forwarding"
        // line named the PROXY-carried client, the name and the backend.
        match forwarding.start().await {
            Ok(totals) => tracing::debug!(
                to_backend = totals.to_backend,
                to_client = totals.to_client,
                end = ?totals.end,
                "connection finished"
            ),
            Err(err) => {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
    }
}

impl Forwarding {
    /// The forwarding itself, taking everything it needs out of `self`.
    fn start(self) -> impl Future<Output = std::io::Result<crate::forward::Totals>> + use<> {
        forward(
            self.stream,
            self.backend,
            self.prefix,
            self.idle,
            self.metrics,
            self.hard_stop,
        )
    }
}

/// [`prepare`] owning what it needs; hands the connection's places back
/// with a connection to forward.
async fn prepare_owned(
    stream: TcpStream,
    peer: SocketAddr,
    mut admission: Admission,
    listener: Arc<ListenerContext>,
    shared: Arc<Shared>,
) -> Option<(Forwarding, Held)> {
    let active = listener.metrics.open();
    let forwarding = prepare(stream, peer, &mut admission, &listener, &shared).await?;
    let held = Held {
        _admission: admission,
        _active: active,
    };
    Some((forwarding, held))
}

/// Sniffs, routes and connects `stream`; returns it with its backend when
/// it is to be forwarded, or serves it to its end (refusal, HTTP-01 answer,
/// TLS termination, tunnel) and returns `None`.
async fn prepare(
    mut stream: TcpStream,
    peer: SocketAddr,
    admission: &mut Admission,
    listener: &ListenerContext,
    shared: &Shared,
) -> Option<Forwarding> {
    let settings = listener.settings.load_full();
    // Linux sockets inherit TCP_NODELAY from their listener (set there).
    #[cfg(not(target_os = "linux"))]
    let _ = stream.set_nodelay(true);
    let local = if listener.bound.ip().is_unspecified() {
        stream.local_addr().map(normalise).unwrap_or(settings.bind)
    } else {
        listener.bound
    };
    let peeked = sniff(&mut stream, (peer, local), &settings, listener, shared).await?;
    if !admission.has_ip()
        && let Err(exceeded) = shared.limits.admit_ip(admission, peeked.client.ip())
    {
        over_limit(peeked.client, exceeded, listener, shared);
        return None;
    }
    let protocol = peeked.detection.protocol;
    let host = peeked.detection.host.as_ref();
    let name = host.map(Hostname::as_str).unwrap_or("-");
    let refusal = |reason, detail| Refusal {
        client: peeked.client,
        protocol: Some(protocol),
        host,
        reason,
        detail,
    };

    let own = shared.acme.as_ref().map(|a| a.manager.challenges());
    let plan = plan(&shared.state.load(), &peeked.detection, own.as_ref());
    let (backend, proxy_version) = match plan {
        Plan::Forward(backend, version) => (backend, version),
        Plan::Terminate(backend, version, alpn) => {
            let target = (backend, version, alpn);
            // Boxed: the handshake's state is large and only these
            // connections need it.
            Box::pin(serve_terminated(
                stream, peeked, target, &settings, listener, shared,
            ))
            .await;
            return None;
        }
        Plan::Answer(bytes) => {
            tracing::info!(client = %peeked.client, name, "HTTP-01 challenge of our own order answered");
            listener
                .metrics
                .count_connection(Some(protocol), Outcome::Answered);
            send_and_close(&mut stream, Some(&bytes)).await;
            return None;
        }
        Plan::Tunnel(tunnel) => {
            Box::pin(deliver(
                stream, peeked, &tunnel, &settings, listener, shared,
            ))
            .await;
            return None;
        }
        Plan::Redirect(bytes) => {
            tracing::info!(client = %peeked.client, name, "HTTP-01 challenge redirected");
            listener
                .metrics
                .count_connection(Some(protocol), Outcome::Redirected);
            send_and_close(&mut stream, Some(&bytes)).await;
            return None;
        }
        Plan::Refuse(reason, detail) => {
            refuse(
                &mut stream,
                &peeked.buf,
                refusal(reason, &detail),
                listener,
                shared,
            )
            .await;
            return None;
        }
    };

    let connected = tokio::select! {
        connected = connect(&backend, local.port(), settings.connect_timeout) => connected,
        () = shared.hard_stop.cancelled() => return None,
    };
    let backend_stream = match connected {
        Ok(s) => s,
        Err(err) => {
            let detail = err.to_string();
            let refusal = refusal(Reason::Unreachable, &detail);
            refuse(&mut stream, &peeked.buf, refusal, listener, shared).await;
            return None;
        }
    };

    // What the backend receives: the optional PROXY header, then every byte
    // read so far except a dial line.
    let rest = peeked
        .buf
        .get(peeked.detection.consume..)
        .unwrap_or_default();
    let prefix = match proxy_version {
        Some(version) => {
            let mut header = encode_header(version, peeked.client, peeked.reached);
            header.extend_from_slice(rest);
            header
        }
        None => rest.to_vec(),
    };
    tracing::debug!(client = %peeked.client, protocol = protocol.as_str(), name, backend = %backend.host, "forwarding");
    listener
        .metrics
        .count_connection(Some(protocol), Outcome::Forwarded);
    Some(Forwarding {
        stream,
        backend: backend_stream,
        prefix,
        idle: settings.idle_timeout,
        metrics: Arc::clone(&listener.metrics),
        hard_stop: shared.hard_stop.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns.
    fn future_size<A, B, C, D, E, F: Future>(_: impl FnOnce(A, B, C, D, E) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Memory per idle connection is mostly its task: the spawned future
    /// must stay a few hundred bytes (it was 6.8 KiB when the TLS
    /// termination and tunnel paths were inline), and the one-off setup
    /// future, allocated once per connection, well under a page.
    #[test]
    fn task_size_stays_small() {
        let task = future_size(
            |s: TcpStream,
             p: SocketAddr,
             a: Admission,
             l: Arc<ListenerContext>,
             sh: Arc<Shared>| { handle(s, p, a, l, sh) },
        );
        assert!(task <= 1024, "connection task is {task} bytes");
        let setup = future_size(
            |s: TcpStream,
             p: SocketAddr,
             a: Admission,
             l: Arc<ListenerContext>,
             sh: Arc<Shared>| { prepare_owned(s, p, a, l, sh) },
        );
        assert!(setup <= 3072, "connection setup is {setup} bytes");
        eprintln!("task {task} bytes, setup {setup} bytes");
    }
}
