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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_reveals_no_byte() {
        let value = b"s3cr3t-T0KEN-value-zq".to_vec();
        let secret = Secret::new(value.clone());
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert_eq!(format!("{secret:?}"), "Secret(MASKED)");
        for window in value.windows(3) {
            let piece = String::from_utf8_lossy(window);
            assert!(!shown.contains(piece.as_ref()), "{piece} leaked in {shown}");
        }
        assert_eq!(secret.expose(), value.as_slice());
    }
}
