//! The admin endpoint's optional token: `Authorization: Bearer TOKEN`, or
//! the `portico_admin` cookie that `/?token=TOKEN` sets for a browser.
//!
//! Only digests are kept: the token's SHA-256 (compared in constant time
//! with the digest of what a client sends, so neither content nor length
//! leaks through timing) and the cookie value, a SHA-256 of the token under
//! a fixed label, so the cookie is not the token itself.

use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq as _;

/// The cookie's name.
pub const COOKIE_NAME: &str = "portico_admin";

/// Label mixed into the cookie value.
const COOKIE_LABEL: &[u8] = b"portico-admin-cookie\0";

/// The token an admin endpoint requires, held as digests.
#[derive(Clone)]
pub struct AdminToken {
    token_digest: [u8; 32],
    cookie: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(MASKED)")
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let joined: Vec<u8> = parts.concat();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &joined).as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl AdminToken {
    /// The token read from a `token_file`.
    pub fn new(token: &[u8]) -> AdminToken {
        AdminToken {
            token_digest: sha256(&[token]),
            cookie: hex(&sha256(&[COOKIE_LABEL, token])),
        }
    }

    /// Whether `given` is the token (constant time).
    pub fn matches(&self, given: &[u8]) -> bool {
        sha256(&[given]).ct_eq(&self.token_digest).into()
    }

    /// Whether `value` is the cookie `/?token=` sets (constant time).
    pub fn matches_cookie(&self, value: &str) -> bool {
        value.len() == self.cookie.len()
            && bool::from(value.as_bytes().ct_eq(self.cookie.as_bytes()))
    }

    /// The `Set-Cookie` value for a browser that presented the token.
    pub fn set_cookie(&self) -> String {
        format!(
            "{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie
        )
    }
}

/// Whether a request carrying `authorization` and `cookie` header values
/// is admitted: always when no token is configured.
pub fn admitted(
    token: Option<&AdminToken>,
    authorization: Option<&str>,
    cookie: Option<&str>,
) -> bool {
    let Some(token) = token else {
        return true;
    };
    if let Some(value) = authorization
        && let Some((scheme, given)) = value.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
        && token.matches(given.trim().as_bytes())
    {
        return true;
    }
    cookie.is_some_and(|header| {
        header.split(';').any(|pair| {
            pair.trim()
                .split_once('=')
                .is_some_and(|(name, value)| name == COOKIE_NAME && token.matches_cookie(value))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_cookie_are_checked() {
        let token = AdminToken::new(b"0123456789abcdef-secret");
        assert!(admitted(None, None, None));
        assert!(!admitted(Some(&token), None, None));
        assert!(admitted(
            Some(&token),
            Some("Bearer 0123456789abcdef-secret"),
            None
        ));
        assert!(admitted(
            Some(&token),
            Some("bearer  0123456789abcdef-secret "),
            None
        ));
        assert!(!admitted(
            Some(&token),
            Some("Bearer 0123456789abcdef-secreT"),
            None
        ));
        assert!(!admitted(
            Some(&token),
            Some("Basic 0123456789abcdef-secret"),
            None
        ));
        let set = token.set_cookie();
        assert!(
            set.ends_with("; HttpOnly; SameSite=Strict; Path=/"),
            "{set}"
        );
        assert!(!set.contains("secret"), "{set}");
        let pair = set.split(';').next().unwrap_or_default();
        assert!(admitted(Some(&token), None, Some(&format!("a=b; {pair}"))));
        assert!(!admitted(Some(&token), None, Some("portico_admin=00")));
        assert!(!admitted(
            Some(&token),
            None,
            Some("portico_admin=0123456789abcdef-secret")
        ));
        assert_eq!(format!("{token:?}"), "AdminToken(MASKED)");
    }
}
