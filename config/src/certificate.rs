//! PEM files named by the gateway file, read and checked when it is
//! loaded: a `[[certificate]]` pair (the chain parses, the key parses and
//! matches the first certificate, the certificate is valid now) and a
//! route's `backend_ca`. Each failure names the file and the reason.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::model::{CertName, Certificate};

/// Largest PEM file read (a long chain is a few KiB).
pub(crate) const MAX_PEM_LEN: u64 = 1024 * 1024;

/// A certificate closer to its end than this draws a warning.
pub(crate) const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// Which file of a pair a failure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// The `cert` file.
    Cert,
    /// The `key` file.
    Key,
}

/// A `[[certificate]]` pair that cannot be served: which file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PairError {
    /// The file the message is about.
    pub(crate) which: Which,
    /// What is wrong, naming the file.
    pub(crate) message: String,
}

impl PairError {
    fn cert(message: String) -> Self {
        PairError {
            which: Which::Cert,
            message,
        }
    }

    fn key(message: String) -> Self {
        PairError {
            which: Which::Key,
            message,
        }
    }
}

/// Reads at most [`MAX_PEM_LEN`] bytes of `path`.
fn read_capped(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{what} {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_LEN.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{what} {shown}: {e}"))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_PEM_LEN {
        return Err(format!(
            "{what} {shown} is larger than {MAX_PEM_LEN} bytes; not a PEM file"
        ));
    }
    Ok(bytes)
}

/// Every certificate of a PEM file, leaf first; at least one.
pub(crate) fn read_chain(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes = read_capped(path, what)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} {shown} is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "{what} {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    for cert in &chain {
        X509Certificate::from_der(cert.as_ref())
            .map_err(|e| format!("{what} {shown} holds a certificate that does not parse: {e}"))?;
    }
    Ok(chain)
}

/// Reads and checks a `[[certificate]]` pair at time `now`; the second
/// value is a warning when the certificate ends within [`EXPIRY_WARNING`].
pub(crate) fn read_pair(
    cert_path: &Path,
    key_path: &Path,
    now: SystemTime,
) -> Result<(Certificate, Option<String>), PairError> {
    let chain = read_chain(cert_path, "certificate file").map_err(PairError::cert)?;
    let shown = cert_path.display();
    let key_shown = key_path.display();
    let key_bytes = read_capped(key_path, "key file").map_err(PairError::key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        PairError::key(format!(
            "key file {key_shown} holds no usable PEM private key: {e}"
        ))
    })?;
    let leaf_der = chain
        .first()
        .ok_or_else(|| PairError::cert(format!("certificate file {shown} is empty")))?;
    let (_, leaf) = X509Certificate::from_der(leaf_der.as_ref()).map_err(|e| {
        PairError::cert(format!(
            "certificate file {shown} holds a certificate that does not parse: {e}"
        ))
    })?;
    let validity = leaf.validity();
    let not_before = to_system_time(validity.not_before.timestamp());
    let not_after = to_system_time(validity.not_after.timestamp());
    if now < not_before {
        return Err(PairError::cert(format!(
            "certificate in {shown} is not valid before {}",
            validity.not_before
        )));
    }
    if now >= not_after {
        return Err(PairError::cert(format!(
            "certificate in {shown} expired on {}",
            validity.not_after
        )));
    }
    let warning = (not_after.duration_since(now).unwrap_or_default() < EXPIRY_WARNING).then(|| {
        format!(
            "certificate in {shown} expires on {}, within 14 days; renew it and reload",
            validity.not_after
        )
    });
    let names = names_of(&leaf);
    if names.is_empty() {
        return Err(PairError::cert(format!(
            "certificate in {shown} names no DNS name (subjectAltName or common name)"
        )));
    }
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => PairError::key(format!(
            "key file {key_shown} does not match the certificate in {shown}"
        )),
        other => PairError::key(format!("key file {key_shown}: {other}")),
    })?;
    Ok((
        Certificate {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
            names,
            not_after,
            certified: Arc::new(certified),
        },
        warning,
    ))
}

/// Whether others (not owner, not group) may read the file at `path`.
pub(crate) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

/// The DNS names a certificate is for: its DNS subjectAltNames, or, with
/// none, its common name (as older tools make them).
fn names_of(cert: &X509Certificate<'_>) -> Vec<CertName> {
    let mut names: Vec<CertName> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for general in &san.value.general_names {
            if let GeneralName::DNSName(d) = general
                && let Some(name) = CertName::parse(d)
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Some(name) = cn.as_str().ok().and_then(CertName::parse) {
                names.push(name);
            }
        }
    }
    names
}

/// Seconds since the epoch as a `SystemTime`, clamped to the epoch.
fn to_system_time(secs: i64) -> SystemTime {
    let secs = u64::try_from(secs).unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Pair {
        cert: tempfile::NamedTempFile,
        key: tempfile::NamedTempFile,
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn pair(names: &[&str], days: (i32, i32)) -> Pair {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.not_before = rcgen::date_time_ymd(2030, 1, 1) + time_days(days.0);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1) + time_days(days.1);
        let cert = params.self_signed(&key).unwrap();
        Pair {
            cert: write(&cert.pem()),
            key: write(&key.serialize_pem()),
        }
    }

    fn time_days(d: i32) -> Duration {
        Duration::from_secs(u64::try_from(d).unwrap() * 86_400)
    }

    /// 2030-01-01 plus `d` days.
    fn at(d: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_893_456_000 + d * 86_400)
    }

    #[test]
    fn a_matching_pair_loads_with_its_names() {
        let p = pair(&["a.test", "*.b.test"], (0, 90));
        let (cert, warning) = read_pair(p.cert.path(), p.key.path(), at(1)).unwrap();
        assert_eq!(warning, None);
        assert_eq!(
            cert.names,
            vec![
                CertName::Exact("a.test".into()),
                CertName::Wildcard("b.test".into())
            ]
        );
        assert_eq!(cert.not_after, at(90));
    }

    #[test]
    fn fourteen_days_before_the_end_draws_a_warning() {
        let p = pair(&["a.test"], (0, 90));
        let (_, warning) = read_pair(p.cert.path(), p.key.path(), at(80)).unwrap();
        assert!(warning.unwrap().contains("within 14 days"));
    }

    #[test]
    fn expired_and_not_yet_valid_are_errors_about_the_cert() {
        let p = pair(&["a.test"], (0, 90));
        let e = read_pair(p.cert.path(), p.key.path(), at(91)).unwrap_err();
        assert_eq!(e.which, Which::Cert);
        assert!(e.message.contains("expired on"), "{}", e.message);
        let p = pair(&["a.test"], (10, 90));
        let e = read_pair(p.cert.path(), p.key.path(), at(1)).unwrap_err();
        assert!(e.message.contains("not valid before"), "{}", e.message);
    }

    #[test]
    fn a_key_of_another_certificate_is_an_error_about_the_key() {
        let a = pair(&["a.test"], (0, 90));
        let b = pair(&["a.test"], (0, 90));
        let e = read_pair(a.cert.path(), b.key.path(), at(1)).unwrap_err();
        assert_eq!(e.which, Which::Key);
        assert!(e.message.contains("does not match"), "{}", e.message);
    }

    #[test]
    fn garbage_names_the_file_and_the_reason() {
        let good = pair(&["a.test"], (0, 90));
        let garbage = write("hello, this is not PEM\n");
        let e = read_pair(garbage.path(), good.key.path(), at(1)).unwrap_err();
        assert_eq!(e.which, Which::Cert);
        assert!(
            e.message.contains("holds no PEM certificate"),
            "{}",
            e.message
        );
        assert!(e.message.contains(&garbage.path().display().to_string()));
        let e = read_pair(good.cert.path(), garbage.path(), at(1)).unwrap_err();
        assert_eq!(e.which, Which::Key);
        assert!(
            e.message.contains("no usable PEM private key"),
            "{}",
            e.message
        );
        let broken = write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let e = read_pair(broken.path(), good.key.path(), at(1)).unwrap_err();
        assert!(e.message.contains("does not parse"), "{}", e.message);
        let e = read_pair(Path::new("/nonexistent.pem"), good.key.path(), at(1)).unwrap_err();
        assert!(e.message.contains("/nonexistent.pem"), "{}", e.message);
    }
}
