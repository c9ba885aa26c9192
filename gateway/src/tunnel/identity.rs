//! The gateway's generated link certificate, for `[tunnels]` without
//! `cert`/`key`: a self-signed certificate made with rcgen the first time
//! it is needed (gateway start or `tunnel add`) and kept in `[tunnels]
//! storage` (directory 0700, files 0600), so its fingerprint stays the one
//! tunnel clients pin.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use portico_link::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate's file name in the storage directory.
pub const CERT_FILE: &str = "link-cert.pem";
/// The key's file name in the storage directory.
pub const KEY_FILE: &str = "link-key.pem";
/// The name the generated certificate carries (clients pin it, so the
/// name is not what they check).
pub const CERT_NAME: &str = "portico-link";
/// Largest file read back.
const MAX_FILE_LEN: u64 = 64 * 1024;

/// Why the generated link certificate cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file or the directory could not be read or written.
    #[error("link certificate storage {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A stored file does not hold what it should.
    #[error("link certificate storage {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rcgen could not make the certificate.
    #[error("cannot make the link certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The generated link certificate and its key.
#[derive(Debug)]
pub struct LinkIdentity {
    /// Where the certificate is stored (PEM).
    pub cert_path: PathBuf,
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// Its key.
    pub key: PrivateKeyDer<'static>,
    /// Its SHA-256 fingerprint, for `gateway_fingerprint`.
    pub fingerprint: Fingerprint,
}

/// Reads the certificate kept in `storage`, or makes and stores one when
/// there is none (the directory is created, mode 0700).
pub fn load_or_create(storage: &Path) -> Result<LinkIdentity, IdentityError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IdentityError::Io { path, source }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(storage)
        .map_err(io(storage))?;
    let cert_path = storage.join(CERT_FILE);
    let key_path = storage.join(KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        return load(cert_path, &key_path);
    }
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec![CERT_NAME.to_owned()])?;
    let cert = params.self_signed(&key)?;
    // The key first: a certificate on disk always has its key beside it.
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    write_private(&cert_path, cert.pem().as_bytes())?;
    tracing::info!(
        cert = %cert_path.display(),
        fingerprint = %Fingerprint::of(cert.der()),
        "made a self-signed link certificate"
    );
    load(cert_path, &key_path)
}

/// Reads a stored pair.
fn load(cert_path: PathBuf, key_path: &Path) -> Result<LinkIdentity, IdentityError> {
    let cert_pem = read_capped(&cert_path)?;
    let cert = CertificateDer::from_pem_slice(&cert_pem).map_err(|e| IdentityError::Invalid {
        path: cert_path.clone(),
        reason: e.to_string(),
    })?;
    let key_pem = read_capped(key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| IdentityError::Invalid {
        path: key_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(LinkIdentity {
        fingerprint: Fingerprint::of(&cert),
        cert_path,
        cert,
        key,
    })
}

/// At most [`MAX_FILE_LEN`] bytes of `path`.
fn read_capped(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_LEN {
        return Err(IdentityError::Invalid {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_FILE_LEN} bytes"),
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to a fresh file of mode 0600 beside `path`, then renames
/// it over `path`.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_read_back_with_the_same_fingerprint() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let storage = dir.path().join("state");
        let first = load_or_create(&storage)?;
        assert_eq!(fs::metadata(&storage)?.permissions().mode() & 0o777, 0o700);
        for file in [CERT_FILE, KEY_FILE] {
            let mode = fs::metadata(storage.join(file))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let second = load_or_create(&storage)?;
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(first.cert, second.cert);
        Ok(())
    }

    #[test]
    fn a_garbage_file_is_an_error_naming_it() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join(CERT_FILE), "garbage")?;
        fs::write(dir.path().join(KEY_FILE), "garbage")?;
        let err = load_or_create(dir.path()).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains(CERT_FILE)),
            "{err:?}"
        );
        Ok(())
    }
}
