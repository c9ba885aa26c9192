//! The `[[user]]` table as the proxy handshakes use it: credentials checked
//! in constant time, failed logins counted per client address and, past the
//! limit, refused without looking at the password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use portico_config::Secret;
use portico_config::model::User;
use portico_link::{FailureLimiter, tokens_equal};
use portico_sniff::Credentials;

use crate::metrics::Metrics;

/// Who a proxy client turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// It offered no credentials.
    Anonymous,
    /// It proved to be this `[[user]]`.
    User(String),
    /// Its credentials were wrong, or its address has failed too often
    /// lately (the password was then not even looked at).
    Rejected(Rejection),
}

/// Why credentials were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Unknown user or wrong password (or undecodable credentials).
    Wrong,
    /// Too many failed logins from this address within the window.
    Blocked,
}

impl Rejection {
    /// The label used in logs and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejection::Wrong => "wrong_credentials",
            Rejection::Blocked => "login_blocked",
        }
    }
}

/// The configured users and the failed-login limiter shared across reloads.
#[derive(Debug, Clone)]
pub(crate) struct Users {
    by_name: HashMap<String, Secret>,
    failures: Arc<FailureLimiter>,
    metrics: Arc<Metrics>,
}

impl Default for Users {
    fn default() -> Self {
        Users::new(
            &[],
            Arc::new(FailureLimiter::default()),
            Arc::new(Metrics::default()),
        )
    }
}

/// Compared against when the user name is unknown, so that an unknown name
/// costs the same as a wrong password.
const DECOY: &[u8] = b"portico-no-such-user-decoy-password";

impl Users {
    /// The table of `users`, limiting failures with `failures` and
    /// counting them in `metrics`.
    pub(crate) fn new(
        users: &[User],
        failures: Arc<FailureLimiter>,
        metrics: Arc<Metrics>,
    ) -> Users {
        let by_name = users
            .iter()
            .map(|user| (user.name.clone(), user.password.clone()))
            .collect();
        Users {
            by_name,
            failures,
            metrics,
        }
    }

    /// A rejection, counted.
    fn rejected(&self, why: Rejection) -> Identity {
        self.metrics.count_login_failure(why == Rejection::Blocked);
        Identity::Rejected(why)
    }

    /// Whether any user is configured (SOCKS5 then asks for credentials).
    pub(crate) fn any(&self) -> bool {
        !self.by_name.is_empty()
    }

    /// Checks `credentials` offered from `client`.
    pub(crate) fn login(&self, client: IpAddr, credentials: &Credentials) -> Identity {
        let now = Instant::now();
        if self.failures.is_blocked(client, now) {
            return self.rejected(Rejection::Blocked);
        }
        let stored = self.by_name.get(&credentials.user);
        let expected = stored.map_or(DECOY, Secret::expose);
        let matches = tokens_equal(expected, &credentials.password) && stored.is_some();
        if matches {
            self.failures.record_success(client);
            Identity::User(credentials.user.clone())
        } else {
            self.failures.record_failure(client, now);
            self.rejected(Rejection::Wrong)
        }
    }

    /// Counts a failed login that carried no usable credentials (a
    /// `Proxy-Authorization` that does not decode).
    pub(crate) fn reject(&self, client: IpAddr) -> Identity {
        let now = Instant::now();
        if self.failures.is_blocked(client, now) {
            return self.rejected(Rejection::Blocked);
        }
        self.failures.record_failure(client, now);
        self.rejected(Rejection::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        let user = User {
            name: "alice".into(),
            password: Secret::new(b"correct horse".to_vec()),
        };
        Users::new(
            &[user],
            Arc::new(FailureLimiter::default()),
            Arc::new(Metrics::default()),
        )
    }

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.as_bytes().to_vec(),
        }
    }

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn right_and_wrong_credentials() {
        let users = users();
        assert!(users.any());
        assert_eq!(
            users.login(CLIENT, &creds("alice", "correct horse")),
            Identity::User("alice".into())
        );
        let wrong = Identity::Rejected(Rejection::Wrong);
        assert_eq!(users.login(CLIENT, &creds("alice", "correct")), wrong);
        assert_eq!(users.login(CLIENT, &creds("bob", "correct horse")), wrong);
        assert_eq!(users.login(CLIENT, &creds("Alice", "correct horse")), wrong);
    }

    #[test]
    fn repeated_failures_block_even_the_right_password() {
        let users = users();
        let metrics = Arc::clone(&users.metrics);
        for _ in 0..5 {
            assert_eq!(
                users.login(CLIENT, &creds("alice", "guess")),
                Identity::Rejected(Rejection::Wrong)
            );
        }
        assert_eq!(
            users.login(CLIENT, &creds("alice", "correct horse")),
            Identity::Rejected(Rejection::Blocked)
        );
        let text = metrics.render();
        assert!(
            text.contains("portico_login_failures_total{reason=\"wrong_credentials\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("portico_login_failures_total{reason=\"login_blocked\"} 1\n"),
            "{text}"
        );
        // Another address is not affected.
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));
        assert_eq!(
            users.login(other, &creds("alice", "correct horse")),
            Identity::User("alice".into())
        );
    }

    #[test]
    fn no_users_means_no_login() {
        let users = Users::default();
        assert!(!users.any());
        assert_eq!(
            users.login(CLIENT, &creds("alice", "x")),
            Identity::Rejected(Rejection::Wrong)
        );
    }
}
