//! `terminate_tls` routes: the gateway completes the TLS handshake with the
//! `[acme]` certificate the SNI names (the peeked ClientHello replayed to
//! the acceptor first, the handshake bounded by a timeout), connects the
//! backend, then hands both to [`crate::plaintext`].

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use portico_config::model::{Backend, Listener, ProxyVersion};
use portico_sniff::{Hostname, Protocol};

use crate::acme::CertResolver;
use crate::conn::{ListenerContext, Shared};
use crate::connect::connect;
use crate::metrics::Outcome;
use crate::peek::Peeked;
use crate::plaintext::copy_plaintext;
use crate::proxy::encode_header;
use crate::refuse::Reason;
use crate::replay::Replay;

/// Default bound on the TLS handshake of a terminating route
/// (`[acme] tls_handshake_timeout`): 10 seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration =
    portico_config::model::Acme::DEFAULT_TLS_HANDSHAKE_TIMEOUT;
/// Most distinct ALPN lists whose TLS configuration is kept; a further
/// list gets a configuration built for its handshake alone.
pub const MAX_CACHED_CONFIGS: usize = 64;

/// A client connection after the gateway's TLS handshake.
pub type Terminated = TlsStream<Replay<TcpStream>>;

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// No complete handshake within the handshake timeout.
    #[error("TLS handshake not done within {0:?}")]
    Timeout(Duration),
    /// The handshake failed (unknown name, no common protocol, a broken peer).
    #[error("TLS handshake failed: {0}")]
    Failed(#[from] io::Error),
}

/// Completes TLS handshakes with the ACME manager's certificates.
#[derive(Clone)]
pub struct Terminator {
    resolver: Arc<CertResolver>,
    /// One acceptor per ALPN list (routes differ only in what they offer).
    acceptors: Arc<Mutex<HashMap<Vec<Vec<u8>>, TlsAcceptor>>>,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for Terminator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminator")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Terminator {
    /// Serves `resolver`'s certificates (SNI picks one; a renewed one
    /// serves the next handshake). Checks that rustls accepts the
    /// configuration.
    pub fn new(
        resolver: &Arc<CertResolver>,
        handshake_timeout: Duration,
    ) -> Result<Self, rustls::Error> {
        resolver.server_config(Vec::new())?;
        Ok(Self {
            resolver: Arc::clone(resolver),
            acceptors: Arc::default(),
            handshake_timeout,
        })
    }

    /// The acceptor offering `alpn`.
    fn acceptor(&self, alpn: Vec<Vec<u8>>) -> Result<TlsAcceptor, rustls::Error> {
        let mut cache = self
            .acceptors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(acceptor) = cache.get(&alpn) {
            return Ok(acceptor.clone());
        }
        let acceptor = TlsAcceptor::from(Arc::new(self.resolver.server_config(alpn.clone())?));
        if cache.len() < MAX_CACHED_CONFIGS {
            cache.insert(alpn, acceptor.clone());
        }
        Ok(acceptor)
    }

    /// Completes the handshake on `stream`, whose first bytes `peeked` were
    /// already read while sniffing, offering the ALPN protocols `alpn`.
    pub async fn accept(
        &self,
        stream: TcpStream,
        peeked: Vec<u8>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<Terminated, HandshakeError> {
        let acceptor = self
            .acceptor(alpn)
            .map_err(|e| HandshakeError::Failed(io::Error::other(e)))?;
        let replay = Replay::new(peeked, stream);
        tokio::time::timeout(self.handshake_timeout, acceptor.accept(replay))
            .await
            .map_err(|_| HandshakeError::Timeout(self.handshake_timeout))?
            .map_err(HandshakeError::Failed)
    }
}

/// A `terminate_tls` route: the TLS handshake here (the peeked bytes replayed
/// first), then the plaintext to `backend` with the optional PROXY header.
/// A failed handshake or an unreachable backend closes the connection,
/// logged and counted as a refusal.
pub(crate) async fn serve_terminated(
    stream: TcpStream,
    peeked: Peeked,
    (backend, proxy_version, alpn): (Backend, Option<ProxyVersion>, Vec<Vec<u8>>),
    settings: &Listener,
    listener: &ListenerContext,
    shared: &Shared,
) {
    let client = peeked.client;
    let name = peeked
        .detection
        .host
        .as_ref()
        .map(Hostname::as_str)
        .unwrap_or("-")
        .to_owned();
    let refused = |reason: &'static str, detail: &str| {
        if shared.may_log_refusal() {
            tracing::info!(client = %client, listener = %listener.name, protocol = "tls", name, reason, detail, "refused");
        }
        shared
            .metrics
            .count_refusal(&listener.name, Some(Protocol::Tls), reason);
        listener
            .metrics
            .count_connection(Some(Protocol::Tls), Outcome::Refused);
    };
    let Some(acme) = &shared.acme else {
        refused(Reason::NoRoute.as_str(), "terminate_tls without [acme]");
        return;
    };
    let local_port = stream
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(settings.bind.port());
    // The header names the addresses the client used; the bytes it sent
    // so far (the ClientHello) go to the TLS acceptor, not the backend.
    let prefix = proxy_version
        .map(|v| encode_header(v, peeked.client, peeked.reached))
        .unwrap_or_default();
    let mut hello = peeked.buf;
    hello.drain(..peeked.detection.consume.min(hello.len()));
    let handshake = tokio::select! {
        done = acme.terminator.accept(stream, hello, alpn) => done,
        () = shared.hard_stop.cancelled() => return,
    };
    let tls = match handshake {
        Ok(tls) => tls,
        Err(err) => {
            refused(TLS_HANDSHAKE, &err.to_string());
            return;
        }
    };
    let connected = tokio::select! {
        connected = connect(&backend, local_port, settings.connect_timeout) => connected,
        () = shared.hard_stop.cancelled() => return,
    };
    let backend_stream = match connected {
        Ok(s) => s,
        Err(err) => {
            refused(Reason::Unreachable.as_str(), &err.to_string());
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
    listener
        .metrics
        .count_connection(Some(Protocol::Tls), Outcome::Forwarded);
    let copied = copy_plaintext(
        tls,
        backend_stream,
        prefix,
        settings.idle_timeout,
        Arc::clone(&listener.metrics),
        shared.hard_stop.clone(),
    )
    .await;
    match copied {
        Ok(c) => tracing::debug!(
            client = %client,
            name,
            to_backend = c.to_backend,
            to_client = c.to_client,
            done = c.done,
            "connection finished"
        ),
        Err(err) => {
            tracing::debug!(client = %client, name, error = %err, "connection ended with an error");
        }
    }
}

/// The refusal reason of a TLS handshake that did not complete.
pub const TLS_HANDSHAKE: &str = "tls_handshake";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::certificate::parse_bundle;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A resolver serving a self-signed certificate for `a.test`, and that
    /// certificate (DER) for the client to trust.
    fn resolver() -> anyhow::Result<(
        Arc<CertResolver>,
        rustls::pki_types::CertificateDer<'static>,
    )> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["a.test".to_owned()])?.self_signed(&signing)?;
        let pem = format!("{}{}", cert.pem(), signing.serialize_pem());
        let loaded =
            parse_bundle("a.test", pem.as_bytes(), &provider).map_err(anyhow::Error::msg)?;
        let resolver = Arc::new(CertResolver::new("a.test".into(), provider));
        resolver.install("a.test", loaded.key);
        Ok((resolver, cert.der().clone()))
    }

    async fn pair() -> anyhow::Result<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        Ok((client?, server?.0))
    }

    #[tokio::test]
    async fn handshake_completes_after_the_peeked_bytes_are_replayed() -> anyhow::Result<()> {
        let (resolver, der) = resolver()?;
        let terminator = Terminator::new(&resolver, DEFAULT_HANDSHAKE_TIMEOUT)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der)?;
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let (client, mut server) = pair().await?;
        let client_side = tokio::spawn(async move {
            let mut tls = connector.connect("a.test".try_into()?, client).await?;
            tls.write_all(b"hello").await?;
            tls.shutdown().await?;
            anyhow::Ok(())
        });
        // What sniffing would have read: the first bytes of the ClientHello.
        let mut peeked = vec![0u8; 9];
        server.read_exact(&mut peeked).await?;
        let offered = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut tls = terminator.accept(server, peeked, offered).await?;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await?;
        assert_eq!(got, b"hello");
        client_side.await??;
        Ok(())
    }

    #[tokio::test]
    async fn a_stalled_handshake_ends_at_the_timeout() -> anyhow::Result<()> {
        let (resolver, _) = resolver()?;
        let timeout = Duration::from_millis(50);
        let terminator = Terminator::new(&resolver, timeout)?;
        let (mut client, server) = pair().await?;
        // A record header promising more than is ever sent.
        client.write_all(b"\x16\x03\x01\x00\x80").await?;
        let result = terminator.accept(server, Vec::new(), Vec::new()).await;
        assert!(
            matches!(result, Err(HandshakeError::Timeout(t)) if t == timeout),
            "{result:?}"
        );
        Ok(())
    }
}
