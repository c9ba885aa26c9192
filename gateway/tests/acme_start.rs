//! `AcmeManager::start` refuses a bad directory URL, unusable storage or a
//! missing CA file, naming the URL or path. Needs no ACME server: every
//! error comes before the first request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use portico_config::model::Acme;
use portico_gateway::acme::{AcmeManager, AcmeSettings};

/// The name the configuration certifies.
const DOMAIN: &str = "gw.test";

fn settings() -> AcmeSettings {
    AcmeSettings {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        order_timeout: Duration::from_secs(60),
        poll_initial: Duration::from_millis(100),
        check_interval: Duration::from_secs(3600),
        http_timeout: Duration::from_secs(10),
        ..AcmeSettings::default()
    }
}

/// A self-signed CA certificate (CA:TRUE) written as `dir/ca.pem`.
fn write_ca(dir: &Path) -> Result<PathBuf> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "acme test CA");
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let path = dir.join("ca.pem");
    std::fs::write(&path, params.self_signed(&key)?.pem())?;
    Ok(path)
}

#[test]
fn start_errors_name_the_url_or_path() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let ca = write_ca(tmp.path())?;
    let config = |directory: &str, storage: PathBuf, ca: PathBuf| Acme {
        directory: directory.to_owned(),
        contact: Vec::new(),
        domains: vec![DOMAIN.to_owned()],
        storage,
        directory_ca: Some(ca),
        renew_before: None,
        tls_handshake_timeout: Acme::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    };
    for bad in ["http://127.0.0.1:1/dir", "not a url"] {
        let err = AcmeManager::start(&config(bad, tmp.path().join("s"), ca.clone()), settings())
            .err()
            .context("bad URL accepted")?;
        assert!(err.to_string().contains(bad), "{err}");
    }

    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory")?;
    for storage in [file.join("acme"), file.clone()] {
        let err = AcmeManager::start(
            &config("https://127.0.0.1:1/dir", storage.clone(), ca.clone()),
            settings(),
        )
        .err()
        .context("unusable storage accepted")?;
        assert!(
            err.to_string().contains(&storage.display().to_string()),
            "{err}"
        );
    }

    let missing_ca = tmp.path().join("no-such-ca.pem");
    let err = AcmeManager::start(
        &config(
            "https://127.0.0.1:1/dir",
            tmp.path().join("s2"),
            missing_ca.clone(),
        ),
        settings(),
    )
    .err()
    .context("missing CA accepted")?;
    assert!(
        err.to_string().contains(&missing_ca.display().to_string()),
        "{err}"
    );
    Ok(())
}
