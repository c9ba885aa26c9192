//! The HTTPS client that talks to the ACME server: ring provider chosen
//! explicitly, trust in the configured CA or the system roots, and a bound
//! on the time and size of every exchange.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use super::error::AcmeError;
use super::settings::AcmeSettings;
use super::storage::MAX_STORED_FILE_BYTES;

/// The TLS client configuration for the ACME server.
pub(crate) fn tls_config(
    directory_ca: Option<&Path>,
    provider: Arc<CryptoProvider>,
) -> Result<ClientConfig, AcmeError> {
    let roots = match directory_ca {
        Some(path) => roots_from_file(path)?,
        None => native_roots()?,
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Every certificate in the PEM file at `path`, as trust anchors.
fn roots_from_file(path: &Path) -> Result<RootCertStore, AcmeError> {
    let bad = |reason: String| AcmeError::DirectoryCa {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.len() > MAX_STORED_FILE_BYTES {
        return Err(bad(format!("larger than {MAX_STORED_FILE_BYTES} bytes")));
    }
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no usable certificate".to_owned()));
    }
    Ok(roots)
}

/// The system's trusted roots.
fn native_roots() -> Result<RootCertStore, AcmeError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(AcmeError::NativeRoots(why));
    }
    Ok(roots)
}

/// An [`HttpClient`] for instant-acme with a timeout on each exchange and a
/// cap on each response body.
pub(crate) struct BoundedClient {
    client: Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    timeout: Duration,
    max_body: usize,
}

impl BoundedClient {
    /// A client that trusts what `tls` trusts and follows `settings`.
    pub(crate) fn new(tls: ClientConfig, settings: &AcmeSettings) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.http_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: settings.http_timeout,
            max_body: settings.max_response_bytes,
        }
    }
}

/// An error for instant-acme's `Other` variant.
fn other(msg: String) -> instant_acme::Error {
    instant_acme::Error::Other(msg.into())
}

impl HttpClient for BoundedClient {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let uri = req.uri().to_string();
        let fut = self.client.request(req);
        let timeout = self.timeout;
        let max_body = self.max_body;
        Box::pin(async move {
            let what = uri.clone();
            let exchange = async move {
                let rsp = fut.await.map_err(|e| other(format!("{uri}: {e}")))?;
                let (parts, body) = rsp.into_parts();
                let body = Limited::new(body, max_body)
                    .collect()
                    .await
                    .map_err(|e| other(format!("{uri}: response body: {e}")))?
                    .to_bytes();
                Ok(BytesResponse {
                    parts,
                    body: Box::new(body),
                })
            };
            tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| other(format!("{what}: no complete answer within {timeout:?}")))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_ca_errors_name_the_file() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let garbage = tmp.path().join("garbage.pem");
        std::fs::write(&garbage, b"not a certificate")?;
        let missing = tmp.path().join("missing.pem");
        for path in [garbage, missing] {
            let err = tls_config(Some(&path), provider.clone()).err();
            let msg = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        Ok(())
    }
}
