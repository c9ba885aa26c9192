//! Stage 7, terminating TLS on `terminate_tls` routes: the gateway
//! completes the handshake with its `[acme]` certificate ([`terminator`],
//! over [`replay`], which gives the acceptor the peeked ClientHello first),
//! connects the backend, then copies plaintext both ways
//! ([`crate::forward::stream`]).

use portico_config::model::{Backend, ProxyVersion};
use portico_sniff::{Hostname, Protocol};
use tokio::net::TcpStream;

use crate::accept::Peeked;
use crate::connect::{connect, proxy_header};
use crate::forward::stream;
use crate::metrics::Outcome;
use crate::refuse::{Reason, Refusal, Scope};

mod replay;
mod terminator;

pub(crate) use terminator::Terminator;

/// Where a terminated connection goes: the backend, the PROXY header to
/// send it, and the ALPN protocols to offer the client.
pub(crate) type Target = (Backend, Option<ProxyVersion>, Vec<Vec<u8>>);

/// A `terminate_tls` route: the TLS handshake here (the peeked bytes replayed
/// first), then the plaintext to `backend` with the optional PROXY header.
/// A failed handshake or an unreachable backend closes the connection,
/// logged and counted as a refusal; without a terminator (no `[acme]`)
/// the connection is refused as unroutable.
pub(crate) async fn serve(
    stream: TcpStream,
    peeked: Peeked,
    (backend, proxy_version, alpn): Target,
    terminator: Option<&Terminator>,
    scope: Scope<'_>,
) {
    let client = peeked.client;
    let host = peeked.detection.host.clone();
    let name = host.as_ref().map(Hostname::as_str).unwrap_or("-");
    let refused = |reason: Reason, detail: &str| {
        let refusal = Refusal {
            client,
            protocol: Some(Protocol::Tls),
            host: host.as_ref(),
            reason,
            detail,
        };
        scope
            .refusals
            .record(scope.listener, &refusal, Outcome::Refused);
    };
    let Some(terminator) = terminator else {
        refused(Reason::NoRoute, "terminate_tls without [acme]");
        return;
    };
    let settings = scope.settings;
    let local_port = stream
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(settings.bind.port());
    // The header names the addresses the client used; the bytes it sent
    // so far (the ClientHello) go to the TLS acceptor, not the backend.
    let prefix = proxy_header(proxy_version, &peeked);
    let mut hello = peeked.buf;
    hello.drain(..peeked.detection.consume.min(hello.len()));
    let handshake = tokio::select! {
        done = terminator.accept(stream, hello, alpn) => done,
        () = scope.hard_stop.cancelled() => return,
    };
    let tls = match handshake {
        Ok(tls) => tls,
        Err(err) => {
            refused(Reason::TlsHandshake, &err.to_string());
            return;
        }
    };
    let connected = tokio::select! {
        connected = connect(&backend, local_port, settings.connect_timeout) => connected,
        () = scope.hard_stop.cancelled() => return,
    };
    let backend_stream = match connected {
        Ok(s) => s,
        Err(err) => {
            refused(Reason::Unreachable, &err.to_string());
            let mut tls = tls;
            let _ = tokio::time::timeout(
                settings.connect_timeout,
                tokio::io::AsyncWriteExt::shutdown(&mut tls),
            )
            .await;
            return;
        }
    };
    let alpn = tls
        .get_ref()
        .1
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    tracing::debug!(client = %client, name, backend = %backend.host, alpn, "terminated; forwarding plaintext");
    scope
        .listener
        .metrics
        .count_connection(Some(Protocol::Tls), Outcome::Forwarded);
    let copied = stream::copy(
        tls,
        backend_stream,
        prefix,
        settings.idle_timeout,
        &scope.listener.metrics,
        scope.hard_stop.clone(),
    )
    .await;
    match copied {
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
