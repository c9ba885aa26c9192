//! Reconnect back-off: capped exponential growth with jitter. Sans-IO: the
//! caller passes the random value in and sleeps for the delay it gets.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::settings::BackoffSettings;

/// The delays between connection attempts.
///
/// The n-th delay in a row is drawn from `[c/2, c]` where
/// `c = min(initial * 2^n, max)` ("equal jitter"): it grows quickly, never
/// exceeds `max`, and clients that lost the gateway together do not all
/// come back in the same instant.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    /// The limits.
    settings: BackoffSettings,
    /// Failures in a row since the last reset.
    failures: u32,
}

impl Backoff {
    /// A back-off with no failures yet.
    pub(crate) fn new(settings: BackoffSettings) -> Self {
        Backoff {
            settings,
            failures: 0,
        }
    }

    /// The ceiling of the next delay, before jitter.
    pub(crate) fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.settings
            .initial
            .saturating_mul(factor)
            .min(self.settings.max)
    }

    /// The delay before the next attempt, with `random` choosing where in
    /// `[ceiling/2, ceiling]` it falls; counts one more failure.
    pub(crate) fn next_delay(&mut self, random: u64) -> Duration {
        let ceiling = self.ceiling();
        let half = ceiling / 2;
        let span = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        let extra = match span.checked_add(1) {
            Some(modulus) => random % modulus,
            None => random,
        };
        // Stop growing once the cap is reached, so the count cannot overflow.
        if ceiling < self.settings.max {
            self.failures = self.failures.saturating_add(1);
        }
        half + Duration::from_nanos(extra)
    }

    /// Forgets the failures: the next delay is short again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A random value for [`Backoff::next_delay`]. Each `RandomState` carries
/// fresh keys, which is all the randomness jitter needs.
pub(crate) fn jitter() -> u64 {
    std::hash::RandomState::new().build_hasher().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BackoffSettings {
        BackoffSettings::default()
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::new(settings());
        let ceilings: Vec<Duration> = (0..10)
            .map(|_| {
                let ceiling = backoff.ceiling();
                backoff.next_delay(0);
                ceiling
            })
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            ceilings,
            vec![
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(16000),
                ms(30000),
                ms(30000),
                ms(30000),
                ms(30000)
            ]
        );
    }

    #[test]
    fn jitter_stays_within_half_and_full_ceiling() {
        for random in [0, 1, 12_345, u64::MAX / 3, u64::MAX] {
            let mut backoff = Backoff::new(settings());
            for _ in 0..20 {
                let ceiling = backoff.ceiling();
                let delay = backoff.next_delay(random);
                assert!(delay >= ceiling / 2, "{delay:?} < half of {ceiling:?}");
                assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
                assert!(delay <= settings().max);
            }
        }
        let mut backoff = Backoff::new(settings());
        assert_eq!(backoff.next_delay(0), Duration::from_millis(250));
    }

    #[test]
    fn reset_starts_over_and_many_failures_do_not_overflow() {
        let mut backoff = Backoff::new(settings());
        for _ in 0..10_000 {
            backoff.next_delay(jitter());
        }
        assert_eq!(backoff.ceiling(), settings().max);
        backoff.reset();
        assert_eq!(backoff.ceiling(), settings().initial);
    }
}
