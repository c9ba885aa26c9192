//! The gateway's TLS handshake for `terminate_tls` routes: the certificate
//! the SNI names ([`super::sni`]), one acceptor per offered ALPN list, the
//! peeked ClientHello replayed to the acceptor first, the handshake bounded
//! by a timeout.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::replay::Replay;
use super::sni::SniResolver;

/// Most distinct ALPN lists whose TLS configuration is kept; a further
/// list gets a configuration built for its handshake alone.
pub(crate) const MAX_CACHED_CONFIGS: usize = 64;

/// A client connection after the gateway's TLS handshake.
pub(crate) type Terminated = TlsStream<Replay<TcpStream>>;

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    /// No complete handshake within the handshake timeout.
    #[error("TLS handshake not done within {0:?}")]
    Timeout(Duration),
    /// The handshake failed (unknown name, no common protocol, a broken peer).
    #[error("TLS handshake failed: {0}")]
    Failed(#[from] io::Error),
}

/// Completes TLS handshakes with the certificates of [`SniResolver`].
#[derive(Clone)]
pub(crate) struct Terminator {
    resolver: Arc<SniResolver>,
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
    /// Serves `resolver`'s certificates (SNI picks one; a renewed or
    /// reloaded one serves the next handshake). Checks that rustls accepts
    /// the configuration.
    pub(crate) fn new(
        resolver: &Arc<SniResolver>,
        handshake_timeout: Duration,
    ) -> Result<Self, rustls::Error> {
        resolver.server_config(Vec::new())?;
        Ok(Self {
            resolver: Arc::clone(resolver),
            acceptors: Arc::default(),
            handshake_timeout,
        })
    }

    /// The bound on a TLS handshake (also used for the backend's, with
    /// `backend_tls`).
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The certificates it serves.
    pub(crate) fn resolver(&self) -> &SniResolver {
        &self.resolver
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
    pub(crate) async fn accept(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::certificate::parse_bundle;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A resolver serving a self-signed certificate for `a.test`, and that
    /// certificate (DER) for the client to trust.
    fn resolver() -> anyhow::Result<(Arc<SniResolver>, rustls::pki_types::CertificateDer<'static>)>
    {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["a.test".to_owned()])?.self_signed(&signing)?;
        let pem = format!("{}{}", cert.pem(), signing.serialize_pem());
        let loaded =
            parse_bundle("a.test", pem.as_bytes(), &provider).map_err(anyhow::Error::msg)?;
        let acme = Arc::new(crate::acme::CertResolver::new("a.test".into(), provider));
        acme.install("a.test", loaded.key);
        let resolver = Arc::new(SniResolver::new(&[], Some(acme)));
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
        let terminator = Terminator::new(
            &resolver,
            portico_config::model::Acme::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        )?;
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
