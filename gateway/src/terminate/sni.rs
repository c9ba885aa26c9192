//! Which certificate a `terminate_tls` handshake gets: the operator's
//! `[[certificate]]` pairs and the `[acme]` certificates, chosen by the
//! client's SNI. A reload swaps the operator's set for new handshakes;
//! open connections keep the certificate they were served.
//!
//! Precedence, first match wins:
//! 1. a `[[certificate]]` with the exact name among its DNS names (file order);
//! 2. the `[acme]` certificate for the exact name;
//! 3. a `[[certificate]]` with a matching wildcard name (`*.example.org`
//!    for `a.example.org`, one label deep, as TLS clients match);
//!
//! Without SNI: the first `[[certificate]]`, else the first `[acme]` domain's.

use std::sync::Arc;

use arc_swap::ArcSwap;
use portico_config::model::{CertName, Certificate};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::acme::CertResolver;

/// One operator certificate as the resolver looks it up.
#[derive(Debug)]
struct Entry {
    names: Vec<CertName>,
    key: Arc<CertifiedKey>,
}

/// The certificates of terminating routes, chosen per handshake by SNI.
#[derive(Debug)]
pub(crate) struct SniResolver {
    /// `[[certificate]]`, in file order; swapped whole on reload.
    operator: ArcSwap<Vec<Entry>>,
    /// The ACME manager's certificates, when `[acme]` is configured.
    acme: Option<Arc<CertResolver>>,
    provider: Arc<CryptoProvider>,
}

impl SniResolver {
    /// Serves `certificates` and, when given, `acme`'s certificates.
    pub(crate) fn new(certificates: &[Certificate], acme: Option<Arc<CertResolver>>) -> Self {
        SniResolver {
            operator: ArcSwap::from_pointee(entries(certificates)),
            acme,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// Serves `certificates` from the next handshake on (a reload).
    pub(crate) fn set_certificates(&self, certificates: &[Certificate]) {
        self.operator.store(Arc::new(entries(certificates)));
    }

    /// The certificate for `sni` (lower-case, no trailing dot), or for a
    /// handshake without SNI when `None`.
    pub(crate) fn choose(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let operator = self.operator.load();
        let Some(name) = sni else {
            return operator
                .first()
                .map(|e| Arc::clone(&e.key))
                .or_else(|| self.acme.as_ref().and_then(|a| a.default_key()));
        };
        let exact = |e: &&Entry| {
            e.names
                .iter()
                .any(|n| matches!(n, CertName::Exact(_)) && n.matches(name))
        };
        let wildcard = |e: &&Entry| {
            e.names
                .iter()
                .any(|n| matches!(n, CertName::Wildcard(_)) && n.matches(name))
        };
        operator
            .iter()
            .find(exact)
            .map(|e| Arc::clone(&e.key))
            .or_else(|| self.acme.as_ref().and_then(|a| a.get(name)))
            .or_else(|| operator.iter().find(wildcard).map(|e| Arc::clone(&e.key)))
    }

    /// A TLS server configuration that uses this resolver, built with the
    /// ring provider explicitly, offering `alpn`.
    pub(crate) fn server_config(
        self: &Arc<Self>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<ServerConfig, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = alpn;
        Ok(config)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = client_hello
            .server_name()
            .map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        self.choose(sni.as_deref())
    }
}

/// The lookup entries of `certificates`, in file order.
fn entries(certificates: &[Certificate]) -> Vec<Entry> {
    certificates
        .iter()
        .map(|c| Entry {
            names: c.names.clone(),
            key: Arc::clone(&c.certified),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// A `[[certificate]]` for `names` (the files are not read here).
    fn certificate(names: &[&str]) -> anyhow::Result<Certificate> {
        let signing = rcgen::KeyPair::generate()?;
        let owned: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = rcgen::CertificateParams::new(owned)?.self_signed(&signing)?;
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(signing.serialize_der().into());
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(vec![cert.der().clone()], key, &provider)?;
        Ok(Certificate {
            cert: "cert.pem".into(),
            key: "key.pem".into(),
            names: names.iter().filter_map(|n| CertName::parse(n)).collect(),
            not_after: UNIX_EPOCH,
            certified: Arc::new(certified),
        })
    }

    fn same(a: Option<Arc<CertifiedKey>>, b: &Certificate) -> bool {
        a.is_some_and(|a| Arc::ptr_eq(&a, &b.certified))
    }

    #[test]
    fn an_exact_name_beats_a_wildcard_whatever_the_order() -> anyhow::Result<()> {
        let wild = certificate(&["*.example.org"])?;
        let exact = certificate(&["app.example.org"])?;
        let resolver = SniResolver::new(&[wild.clone(), exact.clone()], None);
        assert!(same(resolver.choose(Some("app.example.org")), &exact));
        assert!(same(resolver.choose(Some("www.example.org")), &wild));
        Ok(())
    }

    #[test]
    fn a_wildcard_covers_one_label_only() -> anyhow::Result<()> {
        let wild = certificate(&["*.example.org"])?;
        let resolver = SniResolver::new(std::slice::from_ref(&wild), None);
        assert!(same(resolver.choose(Some("a.example.org")), &wild));
        assert!(resolver.choose(Some("a.b.example.org")).is_none());
        assert!(resolver.choose(Some("example.org")).is_none());
        assert!(resolver.choose(Some("other.test")).is_none());
        Ok(())
    }

    #[test]
    fn file_order_decides_between_equals_and_no_sni_gets_the_first() -> anyhow::Result<()> {
        let first = certificate(&["a.test", "b.test"])?;
        let second = certificate(&["b.test"])?;
        let resolver = SniResolver::new(&[first.clone(), second.clone()], None);
        assert!(same(resolver.choose(Some("b.test")), &first));
        assert!(same(resolver.choose(None), &first));
        Ok(())
    }

    #[test]
    fn a_reload_serves_the_new_set_to_later_handshakes() -> anyhow::Result<()> {
        let old = certificate(&["a.test"])?;
        let new = certificate(&["a.test"])?;
        let resolver = SniResolver::new(std::slice::from_ref(&old), None);
        let served = resolver.choose(Some("a.test"));
        resolver.set_certificates(std::slice::from_ref(&new));
        assert!(same(resolver.choose(Some("a.test")), &new));
        // What was served before stays what it was.
        assert!(same(served, &old));
        resolver.set_certificates(&[]);
        assert!(resolver.choose(Some("a.test")).is_none());
        assert!(resolver.choose(None).is_none());
        Ok(())
    }

    #[test]
    fn acme_sits_between_exact_and_wildcard_operator_certificates() -> anyhow::Result<()> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let acme = Arc::new(CertResolver::new("app.example.org".into(), provider));
        let acme_cert = certificate(&["app.example.org"])?;
        acme.install("app.example.org", Arc::clone(&acme_cert.certified));
        let wild = certificate(&["*.example.org"])?;
        let resolver = SniResolver::new(std::slice::from_ref(&wild), Some(Arc::clone(&acme)));
        assert!(same(resolver.choose(Some("app.example.org")), &acme_cert));
        assert!(same(resolver.choose(Some("www.example.org")), &wild));
        let exact = certificate(&["app.example.org"])?;
        resolver.set_certificates(std::slice::from_ref(&exact));
        assert!(same(resolver.choose(Some("app.example.org")), &exact));
        // Without operator certificates, no SNI gets ACME's first domain.
        resolver.set_certificates(&[]);
        assert!(same(resolver.choose(None), &acme_cert));
        Ok(())
    }

    #[test]
    fn builds_a_server_config() -> anyhow::Result<()> {
        let resolver = Arc::new(SniResolver::new(&[certificate(&["a.test"])?], None));
        assert!(resolver.server_config(vec![b"http/1.1".to_vec()]).is_ok());
        Ok(())
    }
}
