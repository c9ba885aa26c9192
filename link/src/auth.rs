//! What the gateway needs to authenticate tunnel clients safely: a
//! constant-time token comparison and a per-address limit on failed
//! attempts ([`FailureLimiter`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// Whether two tokens are equal, in time that depends only on their
/// lengths (a length mismatch is answered at once: token lengths are not
/// secret enough to protect, their contents are).
pub fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Limits of a [`FailureLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterSettings {
    /// Failed attempts allowed per source within `window`. Default 5.
    pub max_failures: u32,
    /// The window that starts at a source's first counted failure.
    /// Default 60 s.
    pub window: Duration,
    /// Sources tracked at once; beyond it expired entries are dropped, then
    /// the oldest. Default 4096.
    pub max_tracked: usize,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            max_failures: 5,
            window: Duration::from_secs(60),
            max_tracked: 4096,
        }
    }
}

/// Failures of one source in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the first failure of the window happened.
    started: Instant,
    /// Failures since then.
    failures: u32,
}

/// Counts failed session attempts per source and blocks a source that
/// failed too often recently.
///
/// Sources are IPv4 addresses (IPv4-mapped IPv6 counts as IPv4) and IPv6
/// /64 prefixes, since one host usually owns a whole /64. Time is passed
/// in, so the limiter is tested without sleeping. When more than
/// `max_tracked` sources fail at once the oldest are forgotten: memory stays
/// bounded at the cost of letting a very wide attack retry sooner.
#[derive(Debug)]
pub struct FailureLimiter {
    /// The limits.
    settings: LimiterSettings,
    /// Windows by source.
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl FailureLimiter {
    /// A limiter with no failures recorded.
    pub fn new(settings: LimiterSettings) -> Self {
        FailureLimiter {
            settings,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` has used up its failures for the current window.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let windows = self.lock();
        windows.get(&source_key(ip)).is_some_and(|window| {
            self.is_live(window, now) && window.failures >= self.settings.max_failures
        })
    }

    /// Counts one failed attempt from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let key = source_key(ip);
        let mut windows = self.lock();
        if !windows.contains_key(&key) && windows.len() >= self.settings.max_tracked {
            windows.retain(|_, window| self.is_live(window, now));
            if windows.len() >= self.settings.max_tracked
                && let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, window)| window.started)
                    .map(|(source, _)| *source)
            {
                windows.remove(&oldest);
            }
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if !self.is_live(window, now) {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    /// Forgets the failures of `ip` (after it authenticated).
    pub fn record_success(&self, ip: IpAddr) {
        self.lock().remove(&source_key(ip));
    }

    /// How many sources are tracked (checked by the tests).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.lock().len()
    }

    /// Whether `window` has not yet expired at `now`.
    fn is_live(&self, window: &Window, now: Instant) -> bool {
        now.saturating_duration_since(window.started) < self.settings.window
    }

    /// The map; a panic elsewhere while holding the lock leaves counts that
    /// are still valid, so poisoning is ignored.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for FailureLimiter {
    fn default() -> Self {
        FailureLimiter::new(LimiterSettings::default())
    }
}

/// The source an address is counted under.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = v6.to_bits() & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from_bits(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn tokens_compare_by_content_and_length() {
        assert!(tokens_equal(b"secret", b"secret"));
        assert!(!tokens_equal(b"secret", b"secreT"));
        assert!(!tokens_equal(b"secret", b"secret2"));
        assert!(tokens_equal(b"", b""));
    }

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let limiter = FailureLimiter::default();
        let start = Instant::now();
        let source = ip("192.0.2.7");
        for _ in 0..4 {
            limiter.record_failure(source, start);
        }
        assert!(!limiter.is_blocked(source, start));
        limiter.record_failure(source, start);
        assert!(limiter.is_blocked(source, start));
        assert!(limiter.is_blocked(source, start + Duration::from_secs(59)));
        assert!(!limiter.is_blocked(ip("192.0.2.8"), start));
        assert!(!limiter.is_blocked(source, start + Duration::from_secs(60)));
        // A failure after expiry starts a fresh window.
        limiter.record_failure(source, start + Duration::from_secs(61));
        assert!(!limiter.is_blocked(source, start + Duration::from_secs(61)));
    }

    #[test]
    fn success_clears_and_sources_are_grouped() {
        let limiter = FailureLimiter::default();
        let now = Instant::now();
        for host in 1..=5 {
            limiter.record_failure(ip(&format!("2001:db8:1:2::{host}")), now);
        }
        assert!(limiter.is_blocked(ip("2001:db8:1:2:ffff::1"), now));
        assert!(!limiter.is_blocked(ip("2001:db8:1:3::1"), now));
        for _ in 0..5 {
            limiter.record_failure(ip("::ffff:198.51.100.1"), now);
        }
        assert!(limiter.is_blocked(ip("198.51.100.1"), now));
        limiter.record_success(ip("198.51.100.1"));
        assert!(!limiter.is_blocked(ip("198.51.100.1"), now));
    }

    #[test]
    fn the_map_stays_bounded_and_evicts_expired_then_oldest() {
        let limiter = FailureLimiter::new(LimiterSettings {
            max_failures: 1,
            window: Duration::from_secs(60),
            max_tracked: 3,
        });
        let start = Instant::now();
        limiter.record_failure(ip("192.0.2.1"), start);
        limiter.record_failure(ip("192.0.2.2"), start + Duration::from_secs(10));
        limiter.record_failure(ip("192.0.2.3"), start + Duration::from_secs(20));
        let later = start + Duration::from_secs(30);
        limiter.record_failure(ip("192.0.2.4"), later);
        assert_eq!(limiter.tracked(), 3);
        assert!(
            !limiter.is_blocked(ip("192.0.2.1"), later),
            "oldest evicted"
        );
        assert!(limiter.is_blocked(ip("192.0.2.2"), later));
        assert!(limiter.is_blocked(ip("192.0.2.4"), later));
        // At 75 s the entry from 10 s has expired and goes first.
        let much_later = start + Duration::from_secs(75);
        limiter.record_failure(ip("192.0.2.5"), much_later);
        assert_eq!(limiter.tracked(), 3);
        assert!(limiter.is_blocked(ip("192.0.2.3"), much_later));
        assert!(limiter.is_blocked(ip("192.0.2.5"), much_later));
    }
}
