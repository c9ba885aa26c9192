//! Why a link endpoint could not be set up: one error for loading the PEM
//! files, building the TLS configuration and binding the UDP socket, so the
//! TLS and endpoint code (and their callers) share it.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use quinn::crypto::rustls::NoInitialCipherSuite;

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
