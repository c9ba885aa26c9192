//! Stage 7, terminating TLS on `terminate_tls` routes: the gateway
//! completes the handshake with the certificate the SNI names among the
//! `[[certificate]]` and `[acme]` ones ([`sni`], [`terminator`], over
//! [`replay`], which gives the acceptor the peeked ClientHello first),
//! connects the backend (with TLS again for `backend_tls = true`), then
//! copies plaintext both ways ([`crate::forward::stream`]).

use portico_sniff::{Hostname, Protocol};
use tokio::io::AsyncWriteExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::accept::Peeked;
use crate::connect::{BackendTlsConnector, connect, proxy_header};
use crate::forward::stream;
use crate::metrics::Outcome;
use crate::refuse::{Reason, Refusal, Scope, XmppHints, answer, send_and_close};
use crate::route::TerminatePlan;

mod replay;
mod sni;
mod terminator;

pub(crate) use sni::SniResolver;
pub(crate) use terminator::Terminator;

/// A `terminate_tls` route: the TLS handshake here (the peeked bytes replayed
/// first), then the plaintext to the backend with the optional PROXY header
/// (and TLS again with `backend_tls`). A failed handshake closes the
/// connection; a backend that cannot be reached (or whose TLS does not
/// verify) gets `502 Bad Gateway` inside the client's TLS when it chose
/// `http/1.1`, else a `close_notify`; each is logged and counted as a
/// refusal.
pub(crate) async fn serve(
    stream: TcpStream,
    peeked: Peeked,
    plan: TerminatePlan,
    terminator: &Terminator,
    backend_tls: &BackendTlsConnector,
    scope: Scope<'_>,
) {
    let TerminatePlan {
        backend,
        proxy_protocol: proxy_version,
        alpn,
        backend_tls: tls_settings,
    } = plan;
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
    let chosen = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut tls = tls;
    let mut backend_stream = match connected {
        Ok(s) => s,
        Err(err) => {
            refused(Reason::Unreachable, &err.to_string());
            backend_failed(&mut tls, chosen.as_deref()).await;
            return;
        }
    };
    let alpn = chosen
        .as_deref()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    tracing::debug!(client = %client, name, backend = %backend.host, alpn, "terminated; forwarding plaintext");
    let copied = match tls_settings {
        None => forward(tls, backend_stream, prefix, scope).await,
        Some(tls_settings) => {
            // The PROXY header goes in the clear, before the backend's TLS.
            if !prefix.is_empty() {
                let sent = tokio::time::timeout(
                    settings.connect_timeout,
                    backend_stream.write_all(&prefix),
                )
                .await;
                if !matches!(sent, Ok(Ok(()))) {
                    refused(
                        Reason::Unreachable,
                        "backend closed before the PROXY header",
                    );
                    backend_failed(&mut tls, chosen.as_deref()).await;
                    return;
                }
            }
            let handshake = tokio::select! {
                done = backend_tls.connect(
                    backend_stream,
                    &backend,
                    &tls_settings,
                    chosen.clone(),
                    terminator.handshake_timeout(),
                ) => done,
                () = scope.hard_stop.cancelled() => return,
            };
            match handshake {
                Ok(secured) => forward(tls, secured, Vec::new(), scope).await,
                Err(err) => {
                    refused(Reason::Unreachable, &err.to_string());
                    backend_failed(&mut tls, chosen.as_deref()).await;
                    return;
                }
            }
        }
    };
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

/// Copies between the terminated client and its backend, counted as
/// forwarded.
async fn forward<C, B>(
    client: C,
    backend: B,
    prefix: Vec<u8>,
    scope: Scope<'_>,
) -> std::io::Result<crate::forward::Totals>
where
    C: AsyncRead + AsyncWrite,
    B: AsyncRead + AsyncWrite + Unpin,
{
    scope
        .listener
        .metrics
        .count_connection(Some(Protocol::Tls), Outcome::Forwarded);
    stream::copy(
        client,
        backend,
        prefix,
        scope.settings.idle_timeout,
        &scope.listener.metrics,
        scope.hard_stop.clone(),
    )
    .await
}

/// Tells a terminated client that its backend failed: `502 Bad Gateway`
/// when it chose `http/1.1` by ALPN, then `close_notify` (both bounded in
/// time by [`send_and_close`]).
async fn backend_failed<S>(tls: &mut S, chosen: Option<&[u8]>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let bad_gateway = (chosen == Some(b"http/1.1".as_slice()))
        .then(|| {
            answer(
                Some(Protocol::Http),
                Reason::Unreachable,
                &XmppHints::default(),
            )
        })
        .flatten();
    send_and_close(tls, bad_gateway.as_deref()).await;
}
