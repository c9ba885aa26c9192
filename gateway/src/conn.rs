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
use crate::metrics::{ListenerMetrics, Metrics, Outcome, protocol_label};
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
}

/// One listener as its connections see it.
#[derive(Debug)]
pub struct ListenerContext {
    /// The `listener` label: the configured bind address.
    pub name: String,
    /// The listener's settings; a reload may replace them.
    pub settings: ArcSwap<Listener>,
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
    tracing::info!(
        client = %refusal.client,
        listener = %listener.name,
        protocol = protocol_label(refusal.protocol),
        name,
        reason = refusal.reason.as_str(),
        detail = refusal.detail,
        "refused"
    );
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
    tracing::info!(client = %client, listener = %listener.name, protocol = "unknown", name = "-", reason, "refused");
    shared.metrics.count_refusal(&listener.name, None, reason);
    listener.metrics.count_connection(None, Outcome::Limited);
}

/// Peeks until a decision; refuses (or just counts a client that left) on
/// failure and returns `None`.
async fn sniff(
    stream: &mut TcpStream,
    peer: SocketAddr,
    settings: &Listener,
    listener: &ListenerContext,
    shared: &Shared,
) -> Option<Peeked> {
    let local = stream.local_addr().map(normalise).unwrap_or(settings.bind);
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

/// Serves one accepted connection to its end.
pub async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    mut admission: Admission,
    listener: Arc<ListenerContext>,
    shared: Arc<Shared>,
) {
    let _active = listener.metrics.open();
    let settings = listener.settings.load_full();
    let _ = stream.set_nodelay(true);
    let Some(peeked) = sniff(&mut stream, peer, &settings, &listener, &shared).await else {
        return;
    };
    if !admission.has_ip()
        && let Err(exceeded) = shared.limits.admit_ip(&mut admission, peeked.client.ip())
    {
        over_limit(peeked.client, exceeded, &listener, &shared);
        return;
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
            serve_terminated(stream, peeked, target, &settings, &listener, &shared).await;
            return;
        }
        Plan::Answer(bytes) => {
            tracing::info!(client = %peeked.client, name, "HTTP-01 challenge of our own order answered");
            listener
                .metrics
                .count_connection(Some(protocol), Outcome::Answered);
            send_and_close(&mut stream, Some(&bytes)).await;
            return;
        }
        Plan::Tunnel(tunnel) => {
            deliver(stream, peeked, &tunnel, &settings, &listener, &shared).await;
            return;
        }
        Plan::Redirect(bytes) => {
            tracing::info!(client = %peeked.client, name, "HTTP-01 challenge redirected");
            listener
                .metrics
                .count_connection(Some(protocol), Outcome::Redirected);
            send_and_close(&mut stream, Some(&bytes)).await;
            return;
        }
        Plan::Refuse(reason, detail) => {
            refuse(
                &mut stream,
                &peeked.buf,
                refusal(reason, &detail),
                &listener,
                &shared,
            )
            .await;
            return;
        }
    };

    let local_port = stream
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(settings.bind.port());
    let connected = tokio::select! {
        connected = connect(&backend, local_port, settings.connect_timeout) => connected,
        () = shared.hard_stop.cancelled() => return,
    };
    let backend_stream = match connected {
        Ok(s) => s,
        Err(err) => {
            let detail = err.to_string();
            let refusal = refusal(Reason::Unreachable, &detail);
            refuse(&mut stream, &peeked.buf, refusal, &listener, &shared).await;
            return;
        }
    };

    // What the backend receives: the optional PROXY header, then every byte
    // read so far except a dial line.
    let mut prefix = proxy_version
        .map(|v| encode_header(v, peeked.client, peeked.reached))
        .unwrap_or_default();
    prefix.extend(peeked.buf.iter().skip(peeked.detection.consume));
    let client = peeked.client;
    let name = name.to_owned();
    drop(peeked);
    tracing::debug!(client = %client, protocol = protocol.as_str(), name, backend = %backend.host, "forwarding");
    listener
        .metrics
        .count_connection(Some(protocol), Outcome::Forwarded);
    let metrics = Arc::clone(&listener.metrics);
    let cancel = shared.hard_stop.clone();
    match forward(
        stream,
        backend_stream,
        prefix,
        settings.idle_timeout,
        metrics,
        cancel,
    )
    .await
    {
        Ok(totals) => tracing::debug!(
            client = %client,
            name,
            to_backend = totals.to_backend,
            to_client = totals.to_client,
            end = ?totals.end,
            "connection finished"
        ),
        Err(err) => {
            tracing::debug!(client = %client, name, error = %err, "connection ended with an error");
        }
    }
}
