//! The rustls certificate resolver backed by the manager's certificates:
//! SNI picks the certificate, and a renewal swaps it in for new handshakes at once.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Serves the manager's certificates to rustls.
///
/// A ClientHello without SNI gets the certificate of the first configured
/// name; an SNI naming no certificate of ours aborts the handshake.
#[derive(Debug)]
pub struct CertResolver {
    certs: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    default_name: String,
    provider: Arc<CryptoProvider>,
}

impl CertResolver {
    /// An empty resolver; `default_name` answers handshakes without SNI.
    pub(crate) fn new(default_name: String, provider: Arc<CryptoProvider>) -> Self {
        Self {
            certs: ArcSwap::from_pointee(HashMap::new()),
            default_name,
            provider,
        }
    }

    /// Serves `key` for `name` from the next handshake on.
    pub(crate) fn install(&self, name: &str, key: Arc<CertifiedKey>) {
        self.certs.rcu(|old| {
            let mut map = HashMap::clone(old);
            map.insert(name.to_owned(), key.clone());
            map
        });
    }

    /// The certificate served for `name` (lower-case, no trailing dot), if any.
    pub fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.certs.load().get(name).cloned()
    }

    /// The certificate served to handshakes without SNI: the first
    /// configured name's.
    pub(crate) fn default_key(&self) -> Option<Arc<CertifiedKey>> {
        self.get(&self.default_name)
    }

    /// A TLS server configuration that uses this resolver, built with the ring
    /// provider explicitly (never the process default), with the given ALPN
    /// protocols.
    pub fn server_config(
        self: &Arc<Self>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<ServerConfig, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn;
        Ok(config)
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match client_hello.server_name() {
            Some(sni) => {
                let name = sni.trim_end_matches('.').to_ascii_lowercase();
                self.get(&name)
            }
            None => self.get(&self.default_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::certificate::parse_bundle;

    fn key(name: &str, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
        let signing = rcgen::KeyPair::generate()?;
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])?.self_signed(&signing)?;
        let pem = format!("{}{}", cert.pem(), signing.serialize_pem());
        Ok(parse_bundle(name, pem.as_bytes(), provider)
            .map_err(anyhow::Error::msg)?
            .key)
    }

    #[test]
    fn install_swaps_for_later_lookups_only_for_that_name() -> anyhow::Result<()> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = Arc::new(CertResolver::new("a.test".into(), provider.clone()));
        assert!(resolver.get("a.test").is_none());
        let first = key("a.test", &provider)?;
        let other = key("b.test", &provider)?;
        resolver.install("a.test", first.clone());
        resolver.install("b.test", other.clone());
        assert!(
            resolver
                .get("a.test")
                .is_some_and(|k| Arc::ptr_eq(&k, &first))
        );
        let second = key("a.test", &provider)?;
        resolver.install("a.test", second.clone());
        assert!(
            resolver
                .get("a.test")
                .is_some_and(|k| Arc::ptr_eq(&k, &second))
        );
        assert!(
            resolver
                .get("b.test")
                .is_some_and(|k| Arc::ptr_eq(&k, &other))
        );
        assert!(resolver.server_config(vec![b"http/1.1".to_vec()]).is_ok());
        Ok(())
    }
}
