//! TLS for the link: rustls with the ring provider, TLS 1.3 only, ALPN
//! [`ALPN`]; PEM loading of certificates, keys and trust anchors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::error::EndpointError;
use crate::fingerprint::{Fingerprint, FingerprintVerifier};

/// The ALPN protocol name of the link.
pub const ALPN: &[u8] = b"portico-link/1";

/// Which certificates the tunnel client accepts for the gateway.
///
/// With [`Trust::CaFile`] and [`Trust::Certificates`], each certificate is
/// both a trust anchor (a CA whose leaves are verified as usual: chain,
/// name, dates) and a pin: a gateway presenting exactly that certificate
/// (the same DER bytes) is accepted as it is, whatever its CA flag, name or
/// dates, once its handshake signature verifies. That is how a self-signed
/// certificate made by `openssl req -x509` (CA:TRUE by default) works as
/// `ca`.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The operating system's trusted roots (`rustls-native-certs`;
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` override the location). No pins.
    SystemRoots,
    /// The certificates in this PEM file (`ca = ...`): the gateway's own
    /// certificate or its issuing CA.
    CaFile(PathBuf),
    /// These certificates, as for [`Trust::CaFile`].
    Certificates(Vec<CertificateDer<'static>>),
    /// Exactly the certificate with this SHA-256 fingerprint
    /// (`gateway_fingerprint = "sha256:…"`), whatever its issuer, name or
    /// dates; nothing else.
    Fingerprint(Fingerprint),
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
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::Fingerprint(pin) => Arc::new(FingerprintVerifier::new(
            *pin,
            provider.signature_verification_algorithms,
        )),
        _ => Arc::new(chain_verifier(trust, &provider)?),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The verifier for trust anchors (system roots or `ca`), with the
/// certificates of `ca` also pinned.
fn chain_verifier(
    trust: &Trust,
    provider: &Arc<CryptoProvider>,
) -> Result<GatewayVerifier, EndpointError> {
    let mut roots = RootCertStore::empty();
    let mut pins = Vec::new();
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
                roots.add(cert.clone())?;
                pins.push(cert);
            }
        }
        Trust::Certificates(certs) => {
            for cert in certs {
                roots.add(cert.clone())?;
                pins.push(cert.clone());
            }
        }
        Trust::Fingerprint(_) => {}
    }
    if roots.is_empty() {
        return Err(EndpointError::NoRootCertificates);
    }
    GatewayVerifier::new(roots, pins, provider)
}

/// The tunnel client's verifier of the gateway's certificate: a pinned
/// certificate presented as is passes (see [`Trust`]); anything else goes
/// through webpki's chain verification against the same certificates as
/// roots. Handshake signatures are always checked, with rustls' own
/// helpers and the provider's algorithms.
#[derive(Debug)]
struct GatewayVerifier {
    /// Chain, name and date verification against the trust anchors.
    webpki: Arc<WebPkiServerVerifier>,
    /// Certificates accepted as themselves when presented as the leaf.
    pins: Vec<CertificateDer<'static>>,
    /// The provider's signature verification algorithms.
    algorithms: WebPkiSupportedAlgorithms,
}

impl GatewayVerifier {
    fn new(
        roots: RootCertStore,
        pins: Vec<CertificateDer<'static>>,
        provider: &Arc<CryptoProvider>,
    ) -> Result<GatewayVerifier, EndpointError> {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                .build()?;
        Ok(GatewayVerifier {
            webpki,
            pins,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// Whether `end_entity` is, byte for byte, one of the pinned certificates.
    fn is_pinned(&self, end_entity: &CertificateDer<'_>) -> bool {
        self.pins
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
    }
}

impl ServerCertVerifier for GatewayVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.is_pinned(end_entity) {
            // The operator gave exactly this certificate: it stands for
            // itself, like an SSH host key. The handshake signature, checked
            // next by rustls through the methods below, proves the gateway
            // holds its key.
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::CertificateError;
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::sign::{CertifiedKey, SingleCertAndKey};
    use std::io::Write;

    /// A certificate and the PKCS#8 DER of its key.
    struct Identity {
        cert: CertificateDer<'static>,
        pem: String,
        key: KeyPair,
    }

    impl Identity {
        fn key_der(&self) -> PrivateKeyDer<'static> {
            PrivatePkcs8KeyDer::from(self.key.serialize_der()).into()
        }
    }

    /// A self-signed certificate for `names`, CA:TRUE as `openssl req
    /// -x509` makes it by default.
    fn self_signed_ca_true(names: &[&str]) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Identity {
            cert: cert.der().clone(),
            pem: cert.pem(),
            key,
        }
    }

    /// A CA and a leaf for `name` it signed.
    fn ca_and_leaf(name: &str) -> (CertificateDer<'static>, Identity) {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (
            ca.der().clone(),
            Identity {
                cert: leaf.der().clone(),
                pem: leaf.pem(),
                key,
            },
        )
    }

    /// Runs a whole TLS handshake in memory between the gateway's
    /// configuration `server` and the tunnel client's for `trust`,
    /// dialing `name`; the client's error if it refuses.
    fn handshake(
        server: rustls::ServerConfig,
        trust: &Trust,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let client = client_tls(trust).unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        for _ in 0..16 {
            let mut to_server = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut to_server).unwrap();
            }
            let mut slice = to_server.as_slice();
            while !slice.is_empty() {
                server.read_tls(&mut slice).unwrap();
            }
            if server.process_new_packets().is_err() {
                // The client's alert ended it; the client knows why.
                break;
            }
            let mut to_client = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut to_client).unwrap();
            }
            let mut slice = to_client.as_slice();
            while !slice.is_empty() {
                client.read_tls(&mut slice).unwrap();
            }
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("handshake did not finish");
    }

    fn gateway(id: &Identity) -> rustls::ServerConfig {
        server_tls(vec![id.cert.clone()], id.key_der()).unwrap()
    }

    fn pin(id: &Identity) -> Trust {
        Trust::Certificates(vec![id.cert.clone()])
    }

    #[test]
    fn a_ca_true_self_signed_certificate_given_as_ca_is_pinned() {
        let id = self_signed_ca_true(&["localhost", "127.0.0.1"]);
        assert_eq!(handshake(gateway(&id), &pin(&id), "127.0.0.1"), Ok(()));
        // A pin stands for itself: the name dialed does not matter.
        assert_eq!(handshake(gateway(&id), &pin(&id), "gw.example"), Ok(()));
    }

    #[test]
    fn the_pin_is_read_from_the_ca_file() {
        let id = self_signed_ca_true(&["localhost"]);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(id.pem.as_bytes()).unwrap();
        let trust = Trust::CaFile(file.path().to_path_buf());
        assert_eq!(handshake(gateway(&id), &trust, "localhost"), Ok(()));
    }

    #[test]
    fn a_different_self_signed_certificate_is_refused() {
        let id = self_signed_ca_true(&["localhost"]);
        let other = self_signed_ca_true(&["localhost"]);
        assert!(matches!(
            handshake(gateway(&id), &pin(&other), "localhost"),
            Err(rustls::Error::InvalidCertificate(_))
        ));
    }

    #[test]
    fn a_pinned_certificate_with_another_key_fails_the_signature_check() {
        let id = self_signed_ca_true(&["localhost"]);
        let impostor = self_signed_ca_true(&["localhost"]);
        // The pinned certificate, signed for with a key that is not its own.
        let signer = provider()
            .key_provider
            .load_private_key(impostor.key_der())
            .unwrap();
        let certified = CertifiedKey::new(vec![id.cert.clone()], signer);
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        let mut server = server;
        server.alpn_protocols = vec![ALPN.to_vec()];
        assert!(matches!(
            handshake(server, &pin(&id), "localhost"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadSignature
            ))
        ));
    }

    #[test]
    fn a_leaf_issued_by_the_ca_still_verifies_and_its_name_is_checked() {
        let (ca, leaf) = ca_and_leaf("gateway.test");
        let trust = Trust::Certificates(vec![ca]);
        assert_eq!(handshake(gateway(&leaf), &trust, "gateway.test"), Ok(()));
        assert!(matches!(
            handshake(gateway(&leaf), &trust, "other.test"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ));
    }

    #[test]
    fn a_fingerprint_pins_exactly_that_certificate() {
        let id = self_signed_ca_true(&["localhost"]);
        let other = self_signed_ca_true(&["localhost"]);
        let trust = Trust::Fingerprint(Fingerprint::of(&id.cert));
        assert_eq!(handshake(gateway(&id), &trust, "any.name"), Ok(()));
        assert!(matches!(
            handshake(gateway(&other), &trust, "localhost"),
            Err(rustls::Error::InvalidCertificate(_))
        ));
    }

    #[test]
    fn a_fingerprint_pin_still_checks_the_handshake_signature() {
        let id = self_signed_ca_true(&["localhost"]);
        let impostor = self_signed_ca_true(&["localhost"]);
        let signer = provider()
            .key_provider
            .load_private_key(impostor.key_der())
            .unwrap();
        let certified = CertifiedKey::new(vec![id.cert.clone()], signer);
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        server.alpn_protocols = vec![ALPN.to_vec()];
        let trust = Trust::Fingerprint(Fingerprint::of(&id.cert));
        assert!(matches!(
            handshake(server, &trust, "localhost"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadSignature
            ))
        ));
    }

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
