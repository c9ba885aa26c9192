//! A cap on refusal log lines: at most `refusal_log_rate` lines per second,
//! so that a flood of bad connections cannot flood the log (or the disk
//! under it). Refusals beyond the cap are still counted in the metrics; the
//! first line logged in a later second says how many were left out.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// What to do with one refusal's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `left_out` refusals before it were not logged.
    Log {
        /// Refusals not logged since the last line that was.
        left_out: u64,
    },
    /// Leave it out (it is counted for the next logged line).
    LeaveOut,
}

/// Counts refusals per one-second window.
#[derive(Debug)]
pub struct LogLimit {
    per_second: u32,
    start: Instant,
    /// The current window: whole seconds since `start`.
    window: AtomicU64,
    /// Lines logged in the current window.
    logged: AtomicU32,
    /// Refusals left out since the last logged line.
    left_out: AtomicU64,
}

impl LogLimit {
    /// At most `per_second` lines per second (0: none).
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            start: Instant::now(),
            window: AtomicU64::new(0),
            logged: AtomicU32::new(0),
            left_out: AtomicU64::new(0),
        }
    }

    /// Whether the refusal happening now may be logged.
    pub fn check(&self) -> Verdict {
        self.check_at(self.start.elapsed().as_secs())
    }

    /// [`LogLimit::check`] at `second` (whole seconds since the start).
    fn check_at(&self, second: u64) -> Verdict {
        let current = self.window.load(Ordering::Relaxed);
        if second > current
            && self
                .window
                .compare_exchange(current, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.logged.store(0, Ordering::Relaxed);
        }
        if self.logged.fetch_add(1, Ordering::Relaxed) < self.per_second {
            Verdict::Log {
                left_out: self.left_out.swap(0, Ordering::Relaxed),
            }
        } else {
            self.left_out.fetch_add(1, Ordering::Relaxed);
            Verdict::LeaveOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_up_to_the_rate_then_reports_what_was_left_out() {
        let limit = LogLimit::new(3);
        for _ in 0..3 {
            assert_eq!(limit.check_at(0), Verdict::Log { left_out: 0 });
        }
        for _ in 0..5 {
            assert_eq!(limit.check_at(0), Verdict::LeaveOut);
        }
        // The next second: logging again, with the count of those left out.
        assert_eq!(limit.check_at(1), Verdict::Log { left_out: 5 });
        assert_eq!(limit.check_at(1), Verdict::Log { left_out: 0 });
        assert_eq!(limit.check_at(1), Verdict::Log { left_out: 0 });
        assert_eq!(limit.check_at(1), Verdict::LeaveOut);
        // A late reader of an older second does not reset the window.
        assert_eq!(limit.check_at(0), Verdict::LeaveOut);
        assert_eq!(limit.check_at(7), Verdict::Log { left_out: 2 });
    }

    #[test]
    fn zero_logs_nothing() {
        let limit = LogLimit::new(0);
        assert_eq!(limit.check_at(0), Verdict::LeaveOut);
        assert_eq!(limit.check_at(5), Verdict::LeaveOut);
    }
}
