//! A certificate bundle (chain, then private key, PEM) turned into what
//! rustls serves and what the scheduler and `/status` need to know.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// What is known about the certificate currently served for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The name (lower-case) the certificate is served for.
    pub name: String,
    /// Serial number, hex bytes separated by `:`.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

/// A parsed, usable bundle.
#[derive(Debug, Clone)]
pub(crate) struct LoadedCert {
    /// Facts about the end-entity certificate.
    pub info: CertInfo,
    /// Chain and signing key for rustls.
    pub key: Arc<CertifiedKey>,
}

impl LoadedCert {
    /// The end-entity certificate.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.key.cert.first()
    }
}

/// Parses a bundle for `name`: at least one certificate, a private key that
/// matches the first one, and a first certificate that names `name`.
pub(crate) fn parse_bundle(
    name: &str,
    pem: &[u8],
    provider: &CryptoProvider,
) -> Result<LoadedCert, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM certificate: {e}"))?;
    let leaf_der = chain.first().ok_or("no certificate in the bundle")?.clone();
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("private key: {e}"))?;
    let (_, leaf) = X509Certificate::from_der(leaf_der.as_ref())
        .map_err(|e| format!("bad certificate: {e}"))?;
    if !names_host(&leaf, name) {
        return Err(format!("the certificate does not name {name}"));
    }
    let info = CertInfo {
        name: name.to_owned(),
        serial: leaf.tbs_certificate.raw_serial_as_string(),
        not_before: to_system_time(leaf.validity().not_before.timestamp())?,
        not_after: to_system_time(leaf.validity().not_after.timestamp())?,
    };
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("key does not fit the certificate: {e}"))?;
    Ok(LoadedCert {
        info,
        key: Arc::new(key),
    })
}

/// True if a DNS subject alternative name of `cert` equals `name`.
fn names_host(cert: &X509Certificate<'_>, name: &str) -> bool {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value
        .general_names
        .iter()
        .any(|n| matches!(n, GeneralName::DNSName(d) if d.eq_ignore_ascii_case(name)))
}

/// Seconds since the epoch as a `SystemTime`; times before 1970 are refused.
fn to_system_time(secs: i64) -> Result<SystemTime, String> {
    let secs = u64::try_from(secs).map_err(|_| "validity before 1970".to_owned())?;
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .ok_or_else(|| "validity out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(names: &[&str]) -> anyhow::Result<String> {
        let key = rcgen::KeyPair::generate()?;
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )?;
        let cert = params.self_signed(&key)?;
        Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
    }

    #[test]
    fn parses_a_matching_bundle() -> anyhow::Result<()> {
        let provider = rustls::crypto::ring::default_provider();
        let loaded = parse_bundle("a.test", bundle(&["a.test"])?.as_bytes(), &provider)
            .map_err(anyhow::Error::msg)?;
        assert_eq!(loaded.info.name, "a.test");
        assert!(loaded.info.not_after > loaded.info.not_before);
        assert!(!loaded.info.serial.is_empty());
        Ok(())
    }

    #[test]
    fn refuses_wrong_name_missing_key_and_garbage() -> anyhow::Result<()> {
        let provider = rustls::crypto::ring::default_provider();
        assert!(parse_bundle("b.test", bundle(&["a.test"])?.as_bytes(), &provider).is_err());
        let only_cert = bundle(&["a.test"])?;
        let cut = only_cert.find("-----BEGIN PRIVATE KEY").unwrap_or(0);
        assert!(
            parse_bundle(
                "a.test",
                only_cert.get(..cut).unwrap_or("").as_bytes(),
                &provider
            )
            .is_err()
        );
        assert!(parse_bundle("a.test", b"\xff\x00garbage", &provider).is_err());
        // key of another certificate
        let a = bundle(&["a.test"])?;
        let b = bundle(&["a.test"])?;
        let a_cert = a
            .get(..a.find("-----BEGIN PRIVATE KEY").unwrap_or(0))
            .unwrap_or("");
        let b_key = b
            .get(b.find("-----BEGIN PRIVATE KEY").unwrap_or(0)..)
            .unwrap_or("");
        assert!(parse_bundle("a.test", format!("{a_cert}{b_key}").as_bytes(), &provider).is_err());
        Ok(())
    }
}
