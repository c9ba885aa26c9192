//! One client connection through the stages, top down: accept (peek until
//! the sniffer decides; the per-IP cap for a PROXY-carried client) →
//! handshake (a proxy client's request and credentials) → route (the plan:
//! the gateway's own ACME challenges first, then `[http01]`, then the route
//! table and its access rules) → connect (then a proxy client's success
//! answer) → forward; or, by the plan, terminate TLS,
//! deliver into a tunnel, answer an HTTP-01 challenge, or refuse. Every
//! refusal goes through the one refusal path ([`crate::refuse`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use portico_sniff::Hostname;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::shared::Shared;
use crate::accept::{Admission, ListenerContext, PeekError, PeekSettings, Peeked, normalise, peek};
use crate::connect::{connect, prefix};
use crate::forward::{Totals, forward};
use crate::metrics::{ActiveGuard, ListenerMetrics, Outcome, RouteGuard};
use crate::refuse::{ANSWER_WRITE_TIMEOUT, Reason, Refusal, Scope, send_and_close};
use crate::route::{Plan, Request, classify, plan_routed};
use crate::{handshake, terminate, tunnel};

/// Peeks until a decision; refuses (or just counts a client that left) on
/// failure and returns `None`.
async fn sniff(
    stream: &mut TcpStream,
    (peer, local): (SocketAddr, SocketAddr),
    shared: &Shared,
    scope: Scope<'_>,
) -> Option<Peeked> {
    let settings = scope.settings;
    let peek_settings = PeekSettings {
        protocols: settings.protocols,
        limits: shared.sniff_limits,
        timeout: settings.peek_timeout,
        accept_proxy: settings.accept_proxy.clone(),
        other_after: settings.other_after,
    };
    let started = Instant::now();
    let peeked = tokio::select! {
        peeked = peek(stream, peer, local, &peek_settings) => peeked,
        () = scope.hard_stop.cancelled() => return None,
    };
    shared.metrics.observe_sniff(started.elapsed());
    match peeked {
        Ok(peeked) => Some(peeked),
        Err(failure) if failure.error == PeekError::Closed => {
            tracing::debug!(client = %failure.client, "client closed before a decision");
            scope
                .listener
                .metrics
                .count_connection(None, Outcome::Closed);
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
            scope.refuse(stream, &failure.buf, refusal).await;
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
    /// The route's place among its open connections; its bytes are added
    /// when the connection ends (taken out before forwarding starts).
    route: Option<RouteGuard>,
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
pub(crate) fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    admission: Admission,
    listener: Arc<ListenerContext>,
    shared: Arc<Shared>,
) -> impl Future<Output = ()> + Send + 'static {
    let prepared = Box::pin(prepare_owned(stream, peer, admission, listener, shared));
    async move {
        let Some((mut forwarding, _held)) = prepared.await else {
            return;
        };
        let route = forwarding.route.take();
        // Logged in the connection's span (its client); the "forwarding"
        // line named the PROXY-carried client, the name and the backend.
        match forwarding.start().await {
            Ok(totals) => {
                if let Some(route) = &route {
                    route.add_bytes(totals.to_backend, totals.to_client);
                }
                tracing::debug!(
                to_backend = totals.to_backend,
                to_client = totals.to_client,
                end = ?totals.end,
                "connection finished"
                );
            }
            Err(err) => {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
    }
}

impl Forwarding {
    /// The forwarding itself, taking everything it needs out of `self`.
    fn start(self) -> impl Future<Output = std::io::Result<Totals>> + use<> {
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
    let scope = Scope {
        listener,
        settings: &settings,
        refusals: &shared.refusals,
        hard_stop: &shared.hard_stop,
    };
    // Linux sockets inherit TCP_NODELAY from their listener (set there).
    #[cfg(not(target_os = "linux"))]
    let _ = stream.set_nodelay(true);
    let local = if listener.bound.ip().is_unspecified() {
        stream.local_addr().map(normalise).unwrap_or(settings.bind)
    } else {
        listener.bound
    };

    // Accept: what the client wants, and its place under the per-IP cap.
    let peeked = sniff(&mut stream, (peer, local), shared, scope).await?;
    if !admission.has_ip()
        && let Err(exceeded) = shared.limits.admit_ip(admission, peeked.client.ip())
    {
        let refusal = Refusal {
            client: peeked.client,
            protocol: None,
            host: None,
            reason: Reason::Limit(exceeded),
            detail: "",
        };
        shared.refusals.record(listener, &refusal, Outcome::Limited);
        return None;
    }
    // Handshake: what a proxy client asks for, and who it is.
    let mut peeked = peeked;
    let state = shared.state.load();
    let Ok(ask) = handshake::negotiate(&mut stream, &mut peeked, &state.users, scope).await else {
        return None;
    };
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

    // Route.
    let own = shared.acme.as_ref().map(|a| a.manager.challenges());
    let request = Request {
        detection: &peeked.detection,
        listener: settings.name.as_deref(),
        client: peeked.client.ip(),
        reached_port: peeked.reached.port(),
        ask: ask.as_ref(),
    };
    let (plan, counters) = plan_routed(&state, &request, own.as_ref());
    drop(state);
    // The route counts the connection as open until it ends.
    let route = counters.map(|c| c.0.open());
    let (backend, proxy_version) = match plan {
        Plan::Forward(backend, version) => (backend, version),
        Plan::Terminate(target) => {
            let tls = &shared.tls;
            // Boxed: the handshake's state is large and only these
            // connections need it.
            Box::pin(terminate::serve(
                stream,
                peeked,
                *target,
                &tls.terminator,
                &tls.backend,
                scope,
            ))
            .await;
            return None;
        }
        Plan::Tunnel(name, exit) => {
            Box::pin(tunnel::deliver(
                stream,
                peeked,
                (&name, exit),
                &shared.tunnels,
                scope,
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
        Plan::Redirect(bytes) => {
            tracing::info!(client = %peeked.client, name, "HTTP-01 challenge redirected");
            listener
                .metrics
                .count_connection(Some(protocol), Outcome::Redirected);
            send_and_close(&mut stream, Some(&bytes)).await;
            return None;
        }
        Plan::Refuse(reason, detail) => {
            let refusal = refusal(reason, &detail);
            scope.refuse(&mut stream, &peeked.buf, refusal).await;
            return None;
        }
    };

    // Connect.
    let connected = tokio::select! {
        connected = connect(&backend, local.port(), settings.connect_timeout) => connected,
        () = shared.hard_stop.cancelled() => return None,
    };
    let backend_stream = match connected {
        Ok(s) => s,
        Err(err) => {
            let detail = err.to_string();
            let reason = if err.is_refused() {
                Reason::BackendRefused
            } else {
                Reason::Unreachable
            };
            scope
                .refuse(&mut stream, &peeked.buf, refusal(reason, &detail))
                .await;
            return None;
        }
    };
    // A proxy client learns that its target is connected.
    if let Some(answer) = handshake::established(protocol, local) {
        let written = tokio::time::timeout(ANSWER_WRITE_TIMEOUT, stream.write_all(&answer)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::debug!(client = %peeked.client, "proxy client gone before its answer");
            return None;
        }
    }

    // Forward, once this setup's allocation is freed (see `handle`).
    tracing::debug!(client = %peeked.client, protocol = protocol.as_str(), name, backend = %backend.host, "forwarding");
    listener
        .metrics
        .count_connection(Some(protocol), Outcome::Forwarded);
    Some(Forwarding {
        stream,
        backend: backend_stream,
        prefix: prefix(proxy_version, &peeked),
        idle: settings.idle_timeout,
        metrics: Arc::clone(&listener.metrics),
        hard_stop: shared.hard_stop.clone(),
        route,
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
