//! TLS for the link: rustls with the ring provider, TLS 1.3 only, ALPN
//! [`ALPN`]; PEM loading of certificates, keys and trust anchors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::EndpointError;

/// The ALPN protocol name of the link.
pub const ALPN: &[u8] = b"portico-link/1";

/// Which certificates the tunnel client accepts for the gateway.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The operating system's trusted roots (`rustls-native-certs`;
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` override the location).
    SystemRoots,
    /// Only the CA certificates in this PEM file (`ca = ...`).
    CaFile(PathBuf),
    /// Only these CA certificates.
    Certificates(Vec<CertificateDer<'static>>),
}

/// Reads every certificate in a PEM file, leaf first.
pub fn load_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, EndpointError> {
    let pem_error = |source| EndpointError::Pem {
        path: path.to_path_buf(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if chain.is_empty() {
        return Err(EndpointError::NoCertificates {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, EndpointError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| EndpointError::Pem {
        path: path.to_path_buf(),
        source,
    })
}

/// The one crypto provider the link uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The gateway's TLS configuration.
pub(crate) fn server_tls(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, EndpointError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The gateway's TLS configuration with certificates chosen per handshake
/// by `resolver` (a renewed certificate serves the next handshake).
pub(crate) fn server_tls_with_resolver(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<rustls::ServerConfig, EndpointError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The tunnel client's TLS configuration.
pub(crate) fn client_tls(trust: &Trust) -> Result<rustls::ClientConfig, EndpointError> {
    let mut roots = RootCertStore::empty();
    match trust {
        Trust::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "could not load some system root certificates");
            }
            roots.add_parsable_certificates(found.certs);
        }
        Trust::CaFile(path) => {
            for cert in load_cert_chain(path)? {
                roots.add(cert)?;
            }
        }
        Trust::Certificates(certs) => {
            for cert in certs {
                roots.add(cert.clone())?;
            }
        }
    }
    if roots.is_empty() {
        return Err(EndpointError::NoRootCertificates);
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn missing_and_empty_pem_files_are_typed_errors() {
        let missing = Path::new("/nonexistent/portico-link.pem");
        assert!(matches!(
            load_cert_chain(missing),
            Err(EndpointError::Pem { .. })
        ));
        let mut empty = tempfile::NamedTempFile::new().unwrap();
        empty.write_all(b"not a certificate\n").unwrap();
        assert!(matches!(
            load_cert_chain(empty.path()),
            Err(EndpointError::NoCertificates { .. })
        ));
        assert!(matches!(
            client_tls(&Trust::CaFile(empty.path().to_path_buf())),
            Err(EndpointError::NoCertificates { .. })
        ));
        assert!(matches!(
            client_tls(&Trust::Certificates(Vec::new())),
            Err(EndpointError::NoRootCertificates)
        ));
    }
}
