//! ACME certificates for the gateway's own names (`[acme]`).
//!
//! [`AcmeManager::start`] checks the configuration, opens the owner-only
//! [`storage`] and serves the certificates stored there at once;
//! [`AcmeManager::run`] then obtains missing certificates and renews them in
//! the background (`renew`, `schedule`, `issue`), answering the
//! HTTP-01 challenges of its own orders through the [`ChallengeStore`] that
//! the HTTP listeners consult ([`http01_response`]). The [`CertResolver`]
//! hands rustls the certificate for the SNI name and picks up a renewed
//! certificate for the next handshake. An unreachable or failing ACME server
//! is retried with capped exponential back-off while the current
//! certificates keep serving; a server that no longer knows the stored
//! account gets a new one.
//!
//! A certificate is due when a third of its lifetime is left, or
//! `renew_before` ahead of its end when that is configured; when the server
//! offers ACME Renewal Information (RFC 9773) and suggests an earlier moment,
//! that moment wins, and the new order names the certificate it replaces.

pub mod certificate;
pub mod challenges;
mod client;
pub mod error;
mod issue;
mod renew;
pub mod resolver;
mod schedule;
pub mod settings;
pub mod storage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use portico_config::model::Acme;
use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;

pub use certificate::CertInfo;
pub use challenges::{ChallengeStore, http01_response};
pub use error::AcmeError;
pub use resolver::CertResolver;
pub use settings::AcmeSettings;

use certificate::LoadedCert;
use storage::Storage;

/// Longest name accepted in `[acme] domains` (DNS limit).
pub const MAX_DOMAIN_LEN: usize = 253;

/// Obtains, stores, renews and serves the certificates of `[acme] domains`.
///
/// Cheap to clone; clones share one state. Call [`AcmeManager::run`] once
/// (on a clone) and keep the original to ask for [`AcmeManager::current`].
#[derive(Debug, Clone)]
pub struct AcmeManager {
    inner: Arc<Inner>,
}

/// Counts of what the manager did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcmeCounters {
    /// Orders placed with the ACME server.
    pub orders_placed: u64,
    /// Certificates obtained and installed.
    pub certificates_issued: u64,
    /// Rounds that failed and were scheduled for a retry with back-off.
    pub failed_rounds: u64,
    /// Rounds that ended without an error (nothing due counts too).
    pub good_rounds: u64,
}

#[derive(Debug, Default)]
struct Counters {
    orders_placed: AtomicU64,
    certificates_issued: AtomicU64,
    failed_rounds: AtomicU64,
    good_rounds: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    directory: String,
    contact: Vec<String>,
    domains: Vec<String>,
    renew_before: Option<Duration>,
    settings: AcmeSettings,
    storage: Storage,
    tls: ClientConfig,
    provider: Arc<CryptoProvider>,
    challenges: ChallengeStore,
    resolver: Arc<CertResolver>,
    current: RwLock<HashMap<String, LoadedCert>>,
    counters: Counters,
}

impl AcmeManager {
    /// Checks `cfg`, prepares the storage directory and serves the certificates
    /// already stored there. Makes no network request.
    ///
    /// Errors: a directory URL that is not `https://host/...`, no or unusable
    /// domains, a storage directory that cannot be created or written, an
    /// unusable `directory_ca`; each names the URL, name or path at fault.
    pub fn start(cfg: &Acme, settings: AcmeSettings) -> Result<Self, AcmeError> {
        check_directory_url(&cfg.directory)?;
        let domains = cfg
            .domains
            .iter()
            .map(|d| normalise_domain(d))
            .collect::<Result<Vec<_>, _>>()?;
        let default_name = domains.first().cloned().ok_or(AcmeError::NoDomains)?;
        let storage = Storage::open(&cfg.storage)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = client::tls_config(cfg.directory_ca.as_deref(), provider.clone())?;
        let resolver = Arc::new(CertResolver::new(default_name, provider.clone()));
        let mut current = HashMap::new();
        for name in &domains {
            let path = storage.cert_path(name);
            let loaded = match storage.load_cert(name) {
                Ok(Some(pem)) => certificate::parse_bundle(name, &pem, &provider),
                Ok(None) => continue,
                Err(e) => Err(e.to_string()),
            };
            match loaded {
                Ok(cert) => {
                    tracing::info!(
                        name,
                        serial = cert.info.serial,
                        "serving stored certificate"
                    );
                    resolver.install(name, cert.key.clone());
                    current.insert(name.clone(), cert);
                }
                Err(reason) => tracing::warn!(
                    name, path = %path.display(), reason,
                    "stored certificate unusable; a new one will be ordered"
                ),
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                directory: cfg.directory.clone(),
                contact: cfg.contact.clone(),
                domains,
                renew_before: cfg.renew_before,
                settings,
                storage,
                tls,
                provider,
                challenges: ChallengeStore::default(),
                resolver,
                current: RwLock::new(current),
                counters: Counters::default(),
            }),
        })
    }

    /// The pending HTTP-01 challenges of this manager's orders; an HTTP
    /// listener answers them before any `[http01]` forwarding.
    pub fn challenges(&self) -> ChallengeStore {
        self.inner.challenges.clone()
    }

    /// The rustls resolver serving this manager's certificates.
    pub fn resolver(&self) -> Arc<CertResolver> {
        self.inner.resolver.clone()
    }

    /// The certificate currently served for `name`, if any.
    pub fn current(&self, name: &str) -> Option<CertInfo> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .map(|c| c.info.clone())
    }

    /// The certificates currently served, by name.
    pub fn certificates(&self) -> Vec<CertInfo> {
        let mut all: Vec<CertInfo> = self
            .inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|c| c.info.clone())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// What the manager did since it started.
    pub fn counters(&self) -> AcmeCounters {
        let c = &self.inner.counters;
        AcmeCounters {
            orders_placed: c.orders_placed.load(Ordering::Relaxed),
            certificates_issued: c.certificates_issued.load(Ordering::Relaxed),
            failed_rounds: c.failed_rounds.load(Ordering::Relaxed),
            good_rounds: c.good_rounds.load(Ordering::Relaxed),
        }
    }

    /// Obtains missing certificates and renews due ones until `cancel` fires.
    ///
    /// Cancel safety: stopping in the middle of an order only abandons that
    /// order; its challenges are withdrawn and the served certificates stay.
    pub async fn run(self, cancel: tokio_util::sync::CancellationToken) {
        renew::run(&self.inner, cancel).await;
    }
}

/// Refuses a directory URL that is not `https://host[:port]/...`.
fn check_directory_url(url: &str) -> Result<(), AcmeError> {
    let bad = |reason| AcmeError::DirectoryUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("ACME needs an https:// URL"));
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(bad("no host")),
    }
}

/// Lower-cases `name`, drops a trailing dot and refuses what cannot be a DNS
/// name certified over HTTP-01 (wildcards need DNS-01) or a safe file name.
fn normalise_domain(name: &str) -> Result<String, AcmeError> {
    let bad = |reason| AcmeError::Domain {
        name: name.to_owned(),
        reason,
    };
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    if lower.is_empty() || lower.len() > MAX_DOMAIN_LEN {
        return Err(bad("empty or too long"));
    }
    if lower.starts_with('*') {
        return Err(bad("wildcards need DNS-01; HTTP-01 cannot certify them"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !lower.split('.').all(label_ok) {
        return Err(bad("not a DNS name"));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_url_must_be_https_with_a_host() {
        assert!(check_directory_url("https://acme.example/dir").is_ok());
        assert!(check_directory_url("https://127.0.0.1:14000/dir").is_ok());
        for bad in [
            "http://acme.example/dir",
            "not a url",
            "",
            "/dir",
            "https:///dir",
        ] {
            let err = check_directory_url(bad).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains(&format!("{bad:?}"))),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            normalise_domain("GW.Example.org.").ok().as_deref(),
            Some("gw.example.org")
        );
        for bad in ["*.example.org", "", "a..b", "../x", "a/b", "-a.b", "a b"] {
            assert!(normalise_domain(bad).is_err(), "{bad}");
        }
    }
}
