//! The storage directory: the account credentials and one certificate bundle
//! per name, owner-only (directory 0700, files 0600), written atomically.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;

use super::error::AcmeError;

/// Largest file the manager reads back from storage: 1 MiB.
pub const MAX_STORED_FILE_BYTES: u64 = 1024 * 1024;

/// File name of the account credentials.
const ACCOUNT_FILE: &str = "account.json";
/// File used to prove at start that the directory is writable.
const PROBE_FILE: &str = ".write-probe";

/// The owner-only storage directory.
#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

impl Storage {
    /// Creates the directory if needed (mode 0700), tightens looser modes and
    /// proves it is writable. Every error names the path at fault.
    pub fn open(dir: &Path) -> Result<Self, AcmeError> {
        let err = |source| AcmeError::Storage {
            path: dir.to_path_buf(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
        let meta = fs::metadata(dir).map_err(err)?;
        if !meta.is_dir() {
            return Err(err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        if meta.permissions().mode() & 0o777 != 0o700 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
        }
        let storage = Self {
            dir: dir.to_path_buf(),
        };
        let probe = dir.join(PROBE_FILE);
        write_private(&probe, b"probe")?;
        fs::remove_file(&probe).map_err(|source| AcmeError::Storage {
            path: probe.clone(),
            source,
        })?;
        Ok(storage)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the account credentials file.
    pub fn account_path(&self) -> PathBuf {
        self.dir.join(ACCOUNT_FILE)
    }

    /// Path of the bundle (chain, then private key, PEM) for `name`.
    pub fn cert_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// The stored account credentials, if they exist and belong to `directory`.
    pub fn load_account(&self, directory: &str) -> Result<Option<AccountCredentials>, AcmeError> {
        let path = self.account_path();
        let Some(bytes) = read_capped(&path)? else {
            return Ok(None);
        };
        let bad = |reason: String| AcmeError::Storage {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, reason),
        };
        let mut doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if doc.get("directory").and_then(|d| d.as_str()) != Some(directory) {
            return Ok(None);
        }
        let creds = doc
            .get_mut("credentials")
            .map(serde_json::Value::take)
            .ok_or_else(|| bad("no credentials".to_owned()))?;
        serde_json::from_value(creds)
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }

    /// Stores the account credentials for `directory`.
    pub fn save_account(
        &self,
        directory: &str,
        creds: &AccountCredentials,
    ) -> Result<(), AcmeError> {
        let path = self.account_path();
        let doc = serde_json::json!({ "directory": directory, "credentials": creds });
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| AcmeError::Storage {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        write_private(&path, &bytes)
    }

    /// The stored bundle for `name`, if any.
    pub fn load_cert(&self, name: &str) -> Result<Option<Vec<u8>>, AcmeError> {
        read_capped(&self.cert_path(name))
    }

    /// Stores the bundle for `name`, replacing the old one atomically.
    pub fn save_cert(&self, name: &str, bundle: &[u8]) -> Result<(), AcmeError> {
        write_private(&self.cert_path(name), bundle)
    }
}

/// Reads a file of at most [`MAX_STORED_FILE_BYTES`]; `None` if it does not exist.
fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, AcmeError> {
    let err = |source| AcmeError::Storage {
        path: path.to_path_buf(),
        source,
    };
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_STORED_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_STORED_FILE_BYTES {
        return Err(err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_STORED_FILE_BYTES} bytes"),
        )));
    }
    Ok(Some(bytes))
}

/// Writes `bytes` to a temporary file of mode 0600 beside `path`, syncs it and
/// renames it over `path`, so a reader sees the old or the new content, never a mix.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AcmeError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        AcmeError::Storage {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_owner_only_dir_and_files() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("a/b");
        let storage = Storage::open(&dir)?;
        assert_eq!(fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);
        storage.save_cert("x.test", b"pem")?;
        let path = storage.cert_path("x.test");
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(storage.load_cert("x.test")?, Some(b"pem".to_vec()));
        assert_eq!(storage.load_cert("y.test")?, None);
        assert!(!dir.join(PROBE_FILE).exists());
        Ok(())
    }

    #[test]
    fn tightens_a_loose_directory() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
        Storage::open(tmp.path())?;
        assert_eq!(
            fs::metadata(tmp.path())?.permissions().mode() & 0o777,
            0o700
        );
        Ok(())
    }

    #[test]
    fn a_file_in_the_way_is_an_error_naming_the_path() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let file = tmp.path().join("file");
        fs::write(&file, b"x")?;
        let err = Storage::open(&file.join("acme")).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        Ok(())
    }

    #[test]
    fn oversized_file_is_refused() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let storage = Storage::open(tmp.path())?;
        let big = vec![b'a'; usize::try_from(MAX_STORED_FILE_BYTES)? + 1];
        fs::write(storage.cert_path("big.test"), big)?;
        assert!(storage.load_cert("big.test").is_err());
        Ok(())
    }

    #[test]
    fn account_of_another_directory_is_ignored() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let storage = Storage::open(tmp.path())?;
        fs::write(
            storage.account_path(),
            br#"{"directory":"https://other/dir","credentials":{}}"#,
        )?;
        assert!(storage.load_account("https://mine/dir")?.is_none());
        assert!(storage.load_account("https://other/dir").is_err());
        Ok(())
    }
}
