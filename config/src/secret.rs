//! A secret value whose `Debug` output reveals nothing.

/// A token or key; `Debug` prints `Secret(MASKED)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: Vec<u8>) -> Secret {
        Secret(value)
    }

    /// The value, for constant-time comparison or sending on the link.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(MASKED)")
    }
}
