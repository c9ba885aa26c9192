//! TLS to the backend of a terminating route with `backend_tls = true`:
//! the rustls client configuration (the system's roots, or the route's
//! `backend_ca`), the handshake under a timeout, the backend verified by
//! `backend_name` or the backend's host.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use portico_config::model::{Backend, BackendTls};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Most distinct trust configurations kept; a further one is built for its
/// connection alone.
pub(crate) const MAX_CACHED_CONFIGS: usize = 64;

/// A backend connection after the gateway's TLS handshake with it.
pub(crate) type BackendStream = TlsStream<TcpStream>;

/// Why TLS to a backend did not come up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendTlsError {
    /// No trust anchor to verify the backend with.
    #[error("no trusted root certificates for backend TLS: {0}")]
    Roots(String),
    /// The name to verify is neither a DNS name nor an IP address.
    #[error("backend name `{0}` cannot be verified")]
    Name(String),
    /// The handshake did not finish in time.
    #[error("backend TLS handshake not done within {0:?}")]
    Timeout(Duration),
    /// The handshake failed, e.g. the certificate did not verify.
    #[error("backend TLS handshake failed: {0}")]
    Handshake(io::Error),
}

/// A trust set: `backend_ca`'s certificates, or `None` for the system's roots.
type TrustKey = Option<Arc<[CertificateDer<'static>]>>;

/// Builds and caches the client configurations of `backend_tls` routes.
#[derive(Debug, Default)]
pub(crate) struct BackendTlsConnector {
    /// The system's roots, loaded at first use.
    system_roots: OnceLock<Result<Arc<RootCertStore>, String>>,
    /// One configuration per trust set (`None`: the system's roots).
    configs: Mutex<HashMap<TrustKey, Arc<ClientConfig>>>,
}

impl BackendTlsConnector {
    /// Forgets the cached configurations (a reload may name other files).
    pub(crate) fn clear(&self) {
        self.configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The configuration trusting `ca`, or the system's roots.
    fn config(
        &self,
        ca: Option<&Arc<[CertificateDer<'static>]>>,
    ) -> Result<Arc<ClientConfig>, BackendTlsError> {
        let key = ca.cloned();
        let mut cache = self.configs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(config) = cache.get(&key) {
            return Ok(Arc::clone(config));
        }
        let roots = match ca {
            Some(certs) => {
                let mut roots = RootCertStore::empty();
                let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
                if added == 0 {
                    return Err(BackendTlsError::Roots(
                        "no certificate of backend_ca is usable as a trust anchor".to_owned(),
                    ));
                }
                Arc::new(roots)
            }
            None => self
                .system_roots
                .get_or_init(load_system_roots)
                .clone()
                .map_err(BackendTlsError::Roots)?,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BackendTlsError::Roots(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let config = Arc::new(config);
        if cache.len() < MAX_CACHED_CONFIGS {
            cache.insert(key, Arc::clone(&config));
        }
        Ok(config)
    }

    /// The TLS handshake with the backend on `stream`, offering `alpn`
    /// (the protocol the client chose, if any), verifying the backend's
    /// certificate for `settings.name` or `backend.host`, bounded by
    /// `timeout`.
    pub(crate) async fn connect(
        &self,
        stream: TcpStream,
        backend: &Backend,
        settings: &BackendTls,
        alpn: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<BackendStream, BackendTlsError> {
        let config = self.config(settings.ca.as_ref().map(|ca| &ca.certs))?;
        let config = match alpn {
            Some(protocol) => {
                let mut with_alpn = ClientConfig::clone(&config);
                with_alpn.alpn_protocols = vec![protocol];
                Arc::new(with_alpn)
            }
            None => config,
        };
        let name = settings.name.as_deref().unwrap_or(backend.host.as_str());
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| BackendTlsError::Name(name.to_owned()))?;
        tokio::time::timeout(
            timeout,
            TlsConnector::from(config).connect(server_name, stream),
        )
        .await
        .map_err(|_| BackendTlsError::Timeout(timeout))?
        .map_err(BackendTlsError::Handshake)
    }
}

/// The operating system's trusted roots (`SSL_CERT_FILE` / `SSL_CERT_DIR`
/// override the location).
fn load_system_roots() -> Result<Arc<RootCertStore>, String> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "could not load some system root certificates");
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err("the system has none".to_owned());
    }
    Ok(Arc::new(roots))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_config::model::BackendCa;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A CA, and a TLS server on loopback with a leaf for `name` it
    /// signed, answering one connection with `hello` and its ALPN.
    async fn server(name: &str) -> anyhow::Result<(CertificateDer<'static>, std::net::SocketAddr)> {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
        let key = rcgen::KeyPair::generate()?;
        let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])?.signed_by(&key, &ca)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await
                && let Ok(mut tls) = acceptor.accept(tcp).await
            {
                let _ = tls.write_all(b"hello").await;
                let _ = tls.shutdown().await;
            }
        });
        Ok((ca.der().clone(), addr))
    }

    fn settings(name: &str, ca: Option<CertificateDer<'static>>) -> BackendTls {
        BackendTls {
            name: Some(name.to_owned()),
            ca: ca.map(|c| BackendCa {
                path: "ca.pem".into(),
                certs: Arc::from(vec![c]),
            }),
        }
    }

    fn backend() -> Backend {
        Backend {
            host: "127.0.0.1".into(),
            port: None,
        }
    }

    #[tokio::test]
    async fn verifies_the_backend_by_name_with_backend_ca() -> anyhow::Result<()> {
        let (ca, addr) = server("backend.test").await?;
        let connector = BackendTlsConnector::default();
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = connector
            .connect(
                tcp,
                &backend(),
                &settings("backend.test", Some(ca)),
                Some(b"http/1.1".to_vec()),
                Duration::from_secs(10),
            )
            .await?;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await?;
        assert_eq!(got, b"hello");
        Ok(())
    }

    #[tokio::test]
    async fn a_wrong_name_or_another_ca_is_refused() -> anyhow::Result<()> {
        let connector = BackendTlsConnector::default();
        let (ca, addr) = server("backend.test").await?;
        let tcp = TcpStream::connect(addr).await?;
        let wrong_name = connector
            .connect(
                tcp,
                &backend(),
                &settings("other.test", Some(ca)),
                None,
                Duration::from_secs(10),
            )
            .await;
        assert!(matches!(wrong_name, Err(BackendTlsError::Handshake(_))));
        let (_, addr) = server("backend.test").await?;
        let (other_ca, _) = server("x.test").await?;
        let tcp = TcpStream::connect(addr).await?;
        let wrong_ca = connector
            .connect(
                tcp,
                &backend(),
                &settings("backend.test", Some(other_ca)),
                None,
                Duration::from_secs(10),
            )
            .await;
        assert!(matches!(wrong_ca, Err(BackendTlsError::Handshake(_))));
        Ok(())
    }
}
