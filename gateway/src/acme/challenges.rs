//! The HTTP-01 challenges of the manager's own orders, and the HTTP/1.1
//! answer the gateway sends for them.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The path prefix of HTTP-01 challenge requests.
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Longest token accepted in a request path; ACME tokens are 43 characters.
pub const MAX_TOKEN_LEN: usize = 256;

/// Pending HTTP-01 challenges: token → key authorization. Cheap to clone;
/// clones share the same set.
#[derive(Debug, Clone, Default)]
pub struct ChallengeStore {
    tokens: Arc<RwLock<HashMap<String, String>>>,
}

impl ChallengeStore {
    /// The key authorization for `token`, if it belongs to a pending order of ours.
    pub fn get(&self, token: &str) -> Option<String> {
        self.tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    /// Number of pending challenges.
    pub fn len(&self) -> usize {
        self.tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no challenge is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A guard that publishes tokens and withdraws them all when dropped.
    pub(crate) fn guard(&self) -> TokenGuard {
        TokenGuard {
            store: self.clone(),
            tokens: Vec::new(),
        }
    }
}

/// Publishes tokens for the lifetime of one order.
#[derive(Debug)]
pub(crate) struct TokenGuard {
    store: ChallengeStore,
    tokens: Vec<String>,
}

impl TokenGuard {
    /// Publishes `token` with its key authorization until the guard is dropped.
    pub(crate) fn insert(&mut self, token: String, key_authorization: String) {
        self.store
            .tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), key_authorization);
        self.tokens.push(token);
    }
}

impl Drop for TokenGuard {
    fn drop(&mut self) {
        let mut map = self
            .store
            .tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for token in &self.tokens {
            map.remove(token);
        }
    }
}

/// The full HTTP/1.1 response for a request to `path` (the request target,
/// query ignored) if it asks for one of our pending tokens; otherwise `None`
/// and the request is handled like any other challenge request.
pub fn http01_response(store: &ChallengeStore, path: &str) -> Option<Vec<u8>> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let token = path.strip_prefix(CHALLENGE_PREFIX)?;
    if token.is_empty()
        || token.len() > MAX_TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let body = store.get(token)?;
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_our_tokens_while_the_guard_lives() {
        let store = ChallengeStore::default();
        let mut guard = store.guard();
        guard.insert("tok_en-1".into(), "tok_en-1.thumb".into());
        let resp = http01_response(&store, "/.well-known/acme-challenge/tok_en-1?x=1");
        assert_eq!(
            resp.as_deref(),
            Some(
                &b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 14\r\nConnection: close\r\n\r\ntok_en-1.thumb"[..]
            )
        );
        assert_eq!(
            http01_response(&store, "/.well-known/acme-challenge/other"),
            None
        );
        assert_eq!(http01_response(&store, "/tok_en-1"), None);
        assert_eq!(
            http01_response(&store, "/.well-known/acme-challenge/"),
            None
        );
        assert_eq!(
            http01_response(&store, "/.well-known/acme-challenge/../tok_en-1"),
            None
        );
        drop(guard);
        assert!(store.is_empty());
        assert_eq!(
            http01_response(&store, "/.well-known/acme-challenge/tok_en-1"),
            None
        );
    }
}
