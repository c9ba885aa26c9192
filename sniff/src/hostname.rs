//! Hostnames as routes see them: ASCII lower-case, no trailing dot,
//! labels of letters, digits and hyphens, or an IP literal.

/// A validated, normalised hostname or IP literal (IPv6 without brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(Box<str>);

/// Why a byte string is not a hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    /// Empty.
    #[error("empty hostname")]
    Empty,
}

impl Hostname {
    /// Validates and normalises `raw`.
    pub fn parse(raw: &[u8]) -> Result<Hostname, HostnameError> {
        let _ = raw;
        Err(HostnameError::Empty)
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
