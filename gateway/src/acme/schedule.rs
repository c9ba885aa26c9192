//! When to renew and how long to wait after a failure; pure functions over
//! the clock readings they are given.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::certificate::CertInfo;

/// When `cert` is due for renewal: `renew_before` ahead of its end, or by
/// default when a third of its lifetime is left.
pub(crate) fn local_due(cert: &CertInfo, renew_before: Option<Duration>) -> SystemTime {
    let lifetime = cert
        .not_after
        .duration_since(cert.not_before)
        .unwrap_or(Duration::ZERO);
    let before = renew_before.unwrap_or(lifetime / 3);
    let end = cert
        .not_after
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    UNIX_EPOCH
        .checked_add(end.saturating_sub(before))
        .unwrap_or(UNIX_EPOCH)
}

/// A moment inside the window `[start, end]` (seconds since the epoch) that
/// an ACME server suggests through Renewal Information, at `fraction` (0..=1)
/// of its width; `None` for a window that ends before it starts or predates 1970.
pub(crate) fn in_window(start: i64, end: i64, fraction: f64) -> Option<SystemTime> {
    let start = u64::try_from(start).ok()?;
    let end = u64::try_from(end).ok()?;
    let width = end.checked_sub(start)?;
    let fraction = fraction.clamp(0.0, 1.0);
    // Truncation is wanted: the offset is whole seconds inside the window.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let offset = (width as f64 * fraction) as u64;
    UNIX_EPOCH.checked_add(Duration::from_secs(start.saturating_add(offset.min(width))))
}

/// A random fraction in 0..=1, from the standard library's per-process random keys,
/// so that many gateways do not renew at the same second of a window.
pub(crate) fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(SystemTime::now());
    #[allow(clippy::cast_precision_loss)]
    let fraction = bits as f64 / u64::MAX as f64;
    fraction
}

/// Capped exponential back-off.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial`, doubles, never exceeds `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next attempt, and doubles the one after.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// Back to the initial delay after a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before: u64, not_after: u64) -> CertInfo {
        CertInfo {
            name: "a.test".into(),
            serial: "01".into(),
            not_before: UNIX_EPOCH + Duration::from_secs(not_before),
            not_after: UNIX_EPOCH + Duration::from_secs(not_after),
        }
    }

    #[test]
    fn due_when_a_third_is_left_or_as_configured() {
        let c = cert(900, 1800);
        assert_eq!(local_due(&c, None), UNIX_EPOCH + Duration::from_secs(1500));
        assert_eq!(
            local_due(&c, Some(Duration::from_secs(100))),
            UNIX_EPOCH + Duration::from_secs(1700)
        );
        assert_eq!(local_due(&c, Some(Duration::from_secs(5000))), UNIX_EPOCH);
        assert_eq!(
            local_due(&cert(1800, 900), None),
            UNIX_EPOCH + Duration::from_secs(900)
        );
    }

    #[test]
    fn window_choice_stays_inside() {
        let at = |f| in_window(100, 200, f);
        assert_eq!(at(0.0), Some(UNIX_EPOCH + Duration::from_secs(100)));
        assert_eq!(at(1.0), Some(UNIX_EPOCH + Duration::from_secs(200)));
        assert_eq!(at(0.5), Some(UNIX_EPOCH + Duration::from_secs(150)));
        assert_eq!(at(7.0), Some(UNIX_EPOCH + Duration::from_secs(200)));
        assert_eq!(in_window(200, 100, 0.5), None);
        assert_eq!(in_window(-5, 100, 0.5), None);
        let f = random_fraction();
        assert!((0.0..=1.0).contains(&f));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(30), Duration::from_secs(100));
        let seq: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(seq, vec![30, 60, 100, 100, 100]);
        b.reset();
        assert_eq!(b.next_delay().as_secs(), 30);
    }
}
