//! Pinning the gateway's link certificate by its SHA-256 fingerprint
//! (`gateway_fingerprint = "sha256:…"` in the tunnel client's file): the
//! [`Fingerprint`] of a certificate, its text form, and the verifier that
//! accepts exactly the certificate with that fingerprint.

use std::fmt;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// The SHA-256 digest of a certificate's DER bytes, as OpenSSL prints it
/// with `openssl x509 -noout -fingerprint -sha256`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Length of the digest in bytes.
    pub const LEN: usize = 32;

    /// The fingerprint of `cert`.
    pub fn of(cert: &CertificateDer<'_>) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        let mut out = [0u8; Self::LEN];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }
}

impl fmt::Display for Fingerprint {
    /// `sha256:` and 64 lower-case hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The tunnel client's verifier for a pinned fingerprint: the gateway's
/// end-entity certificate is accepted when its SHA-256 equals the pin,
/// whatever its issuer, name or dates (the pin stands for itself, like an
/// SSH host key); any other certificate is refused. The handshake
/// signature is always checked, so the gateway must hold the key.
#[derive(Debug)]
pub(crate) struct FingerprintVerifier {
    /// The pinned fingerprint.
    pin: Fingerprint,
    /// The provider's signature verification algorithms.
    algorithms: WebPkiSupportedAlgorithms,
}

impl FingerprintVerifier {
    /// A verifier accepting exactly the certificate whose fingerprint is `pin`.
    pub(crate) fn new(pin: Fingerprint, algorithms: WebPkiSupportedAlgorithms) -> Self {
        FingerprintVerifier { pin, algorithms }
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // A fingerprint is public: a plain comparison leaks nothing.
        if Fingerprint::of(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_openssl_in_lower_case() {
        let cert = CertificateDer::from(b"not really a certificate".to_vec());
        let text = Fingerprint::of(&cert).to_string();
        assert!(text.starts_with("sha256:"));
        assert_eq!(text.len(), "sha256:".len() + 64);
        assert!(
            text.trim_start_matches("sha256:")
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        // SHA-256 of the empty input, a known value.
        assert_eq!(
            Fingerprint::of(&CertificateDer::from(Vec::new())).to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn accepts_exactly_the_pinned_certificate() {
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let one = CertificateDer::from(b"one".to_vec());
        let other = CertificateDer::from(b"onf".to_vec());
        let verifier = FingerprintVerifier::new(Fingerprint::of(&one), algorithms);
        let name = ServerName::try_from("gw.test").unwrap();
        let now = UnixTime::now();
        assert!(
            verifier
                .verify_server_cert(&one, &[], &name, &[], now)
                .is_ok()
        );
        assert!(matches!(
            verifier.verify_server_cert(&other, &[], &name, &[], now),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure
            ))
        ));
        // The pin is on the leaf: offering the pinned bytes as an
        // intermediate does not help another leaf.
        assert!(
            verifier
                .verify_server_cert(&other, std::slice::from_ref(&one), &name, &[], now)
                .is_err()
        );
    }
}
