//! Reading a secret from its file — a tunnel token from its `token_file`,
//! a user's password from its `password_file`: it must exist, be a regular
//! file readable only by its owner (and group), and hold at least a minimum
//! of bytes ([`MIN_TOKEN_LEN`] for tokens) once a trailing newline is
//! removed.

use std::io::Read;
use std::path::Path;

use crate::Secret;

/// Shortest token accepted, in bytes (e.g. `openssl rand -hex 32` gives 64).
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// Longest token accepted, in bytes; a larger file is not a token.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// Reads and checks the token at `path`; the error says what to fix.
pub(crate) fn read_token(path: &Path) -> Result<Secret, String> {
    let bytes = read_secret_bytes(path, "token file")?;
    if bytes.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "token in {} is {} bytes; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)",
            path.display(),
            bytes.len()
        ));
    }
    Ok(Secret::new(bytes))
}

/// Reads a secret of at least `min_len` bytes (a password) from `path`,
/// with the same file checks as a token; `what` names the file in errors.
pub(crate) fn read_secret(path: &Path, what: &str, min_len: usize) -> Result<Secret, String> {
    let bytes = read_secret_bytes(path, what)?;
    if bytes.len() < min_len {
        return Err(format!(
            "the secret in {what} {} is {} bytes; use at least {min_len}",
            path.display(),
            bytes.len()
        ));
    }
    Ok(Secret::new(bytes))
}

/// The bytes of a secret file without its trailing newline: a regular
/// file, not readable by others, at most [`MAX_TOKEN_LEN`] bytes, not empty.
fn read_secret_bytes(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{what} {shown} is not a regular file"));
    }
    check_not_world_readable(path, &meta, what)?;
    let file = std::fs::File::open(path).map_err(|e| format!("{what} {shown}: {e}"))?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(MAX_TOKEN_LEN)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{what} {shown}: {e}"))?;
    if bytes.len() > MAX_TOKEN_LEN {
        return Err(format!(
            "{what} {shown} is larger than {MAX_TOKEN_LEN} bytes"
        ));
    }
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(format!("{what} {shown} is empty"));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn check_not_world_readable(
    path: &Path,
    meta: &std::fs::Metadata,
    what: &str,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(format!(
            "{what} {} is readable by others; chmod 600 it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_not_world_readable(_: &Path, _: &std::fs::Metadata, _: &str) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, body: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn reads_and_trims_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t", b"0123456789abcdef0123\r\n", 0o600);
        assert_eq!(read_token(&p).unwrap().expose(), b"0123456789abcdef0123");
    }

    #[test]
    fn refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let open = write(dir.path(), "open", b"0123456789abcdef0123", 0o644);
        assert!(
            read_token(&open)
                .unwrap_err()
                .contains("readable by others; chmod 600")
        );
        let short = write(dir.path(), "short", b"abc\n", 0o600);
        assert!(read_token(&short).unwrap_err().contains("at least 16"));
        let empty = write(dir.path(), "empty", b"\n", 0o600);
        assert!(read_token(&empty).unwrap_err().contains("is empty"));
        let big = write(dir.path(), "big", &[b'a'; MAX_TOKEN_LEN + 1], 0o600);
        assert!(read_token(&big).unwrap_err().contains("larger than"));
        assert!(read_token(&dir.path().join("missing")).is_err());
        assert!(
            read_token(dir.path())
                .unwrap_err()
                .contains("not a regular file")
        );
    }
}
