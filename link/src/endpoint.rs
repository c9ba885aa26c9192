//! QUIC endpoints for both ends of the link: the gateway's listening
//! endpoint and the tunnel client's dialling endpoint.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use quinn::crypto::rustls::{NoInitialCipherSuite, QuicClientConfig, QuicServerConfig};
use quinn::{ClientConfig, Endpoint, ServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::settings::{LinkSettings, Side};
use crate::socket::bind_endpoint;
use crate::tls::{self, Trust};

/// Why an endpoint or its TLS configuration could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// A PEM file could not be read or parsed.
    #[error("{}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("{}: no certificate found", path.display())]
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// No trusted root certificate could be loaded.
    #[error("no trusted root certificates found")]
    NoRootCertificates,
    /// rustls refused the configuration (e.g. a key that does not match).
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The gateway verifier could not be built from the trusted
    /// certificates (e.g. none of them usable as a trust anchor).
    #[error("TLS verifier: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    /// The TLS configuration offers no cipher suite QUIC can use.
    #[error("TLS configuration unusable for QUIC: {0}")]
    Quic(#[from] NoInitialCipherSuite),
    /// The UDP socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What went wrong.
        source: io::Error,
    },
}

/// The gateway's QUIC server configuration: TLS 1.3 with `cert_chain` and
/// `key`, ALPN `portico-link/1`, and the gateway-side transport limits.
///
/// Use it with [`quinn::Endpoint::set_server_config`] to swap a renewed
/// certificate in without dropping live sessions.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    settings: &LinkSettings,
) -> Result<ServerConfig, EndpointError> {
    let tls = tls::server_tls(cert_chain, key)?;
    let quic = QuicServerConfig::try_from(tls)?;
    let mut config = ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(settings.transport(Side::Gateway));
    Ok(config)
}

/// The gateway's QUIC server configuration like [`server_config`], but with
/// the certificate picked per handshake by `resolver`: a resolver that swaps
/// in a renewed certificate serves it to the next handshake at once.
pub fn server_config_with_resolver(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    settings: &LinkSettings,
) -> Result<ServerConfig, EndpointError> {
    let tls = tls::server_tls_with_resolver(resolver)?;
    let quic = QuicServerConfig::try_from(tls)?;
    let mut config = ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(settings.transport(Side::Gateway));
    Ok(config)
}

/// The gateway's endpoint, listening on `bind` (UDP).
pub fn server_endpoint(
    bind: SocketAddr,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    settings: &LinkSettings,
) -> Result<Endpoint, EndpointError> {
    let config = server_config(cert_chain, key, settings)?;
    server_endpoint_with_config(bind, config, settings)
}

/// The gateway's endpoint, listening on `bind` (UDP) with `config` (from
/// [`server_config`] or [`server_config_with_resolver`]); the socket and
/// endpoint take their buffer sizes and payload limit from `settings`.
pub fn server_endpoint_with_config(
    bind: SocketAddr,
    config: ServerConfig,
    settings: &LinkSettings,
) -> Result<Endpoint, EndpointError> {
    bind_endpoint(bind, Some(config), settings)
        .map_err(|source| EndpointError::Bind { addr: bind, source })
}

/// The tunnel client's QUIC client configuration: TLS 1.3 verifying the
/// gateway against `trust`, ALPN `portico-link/1`, client-side limits.
pub fn client_config(
    trust: &Trust,
    settings: &LinkSettings,
) -> Result<ClientConfig, EndpointError> {
    let tls = tls::client_tls(trust)?;
    let quic = QuicClientConfig::try_from(tls)?;
    let mut config = ClientConfig::new(Arc::new(quic));
    config.transport_config(settings.transport(Side::Client));
    Ok(config)
}

/// The tunnel client's endpoint, bound to `bind` (usually `0.0.0.0:0` or
/// `[::]:0`), with [`client_config`] as its default configuration.
pub fn client_endpoint(
    bind: SocketAddr,
    trust: &Trust,
    settings: &LinkSettings,
) -> Result<Endpoint, EndpointError> {
    let config = client_config(trust, settings)?;
    let mut endpoint = bind_endpoint(bind, None, settings)
        .map_err(|source| EndpointError::Bind { addr: bind, source })?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}
