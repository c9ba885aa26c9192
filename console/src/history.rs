//! A capped ring of samples of a program's totals, taken by the admin
//! server every `sample_interval`: the chart's data, and the base from which
//! "refusals over the last minutes" are counted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use crate::model::{Sample, Status};

/// One sample with the refusal totals by reason it was taken with.
#[derive(Debug, Clone)]
struct Recorded {
    sample: Sample,
    refusals: BTreeMap<String, u64>,
}

/// The ring; at most `cap` samples, the oldest dropped first.
#[derive(Debug)]
pub struct History {
    cap: usize,
    samples: Mutex<VecDeque<Recorded>>,
}

impl History {
    /// An empty history keeping at most `cap` samples (at least one).
    pub fn new(cap: usize) -> History {
        let cap = cap.max(1);
        History {
            cap,
            samples: Mutex::new(VecDeque::with_capacity(cap)),
        }
    }

    /// Records the totals of `status`, taken at `status.now`.
    pub fn record(&self, status: &Status) {
        let recorded = Recorded {
            sample: Sample {
                at: status.now,
                connections: status.totals.connections,
                active: status.totals.active,
                bytes: status.totals.bytes,
                refusals: status.refusals_total(),
            },
            refusals: status
                .refusals
                .iter()
                .map(|r| (r.reason.clone(), r.total))
                .collect(),
        };
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        while samples.len() >= self.cap {
            samples.pop_front();
        }
        samples.push_back(recorded);
    }

    /// Fills `status.history` with the samples and the current totals, and
    /// each refusal's `recent` count: its growth since the oldest sample
    /// (everything, when there is none yet).
    pub fn decorate(&self, status: &mut Status) {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = samples.front();
        status.refusal_window_seconds = oldest.map_or(status.uptime_seconds, |o| {
            status.now.saturating_sub(o.sample.at)
        });
        for refusal in &mut status.refusals {
            let base = oldest
                .and_then(|o| o.refusals.get(&refusal.reason))
                .copied()
                .unwrap_or(0);
            refusal.recent = refusal.total.saturating_sub(base);
        }
        status.history = samples.iter().map(|r| r.sample).collect();
        drop(samples);
        status.history.push(Sample {
            at: status.now,
            connections: status.totals.connections,
            active: status.totals.active,
            bytes: status.totals.bytes,
            refusals: status.refusals_total(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RefusalCount;

    fn status(now: u64, no_route: u64) -> Status {
        let mut s = Status {
            now,
            uptime_seconds: now,
            ..Status::default()
        };
        s.totals.connections = now * 2;
        s.refusals.push(RefusalCount {
            reason: "no_route".into(),
            total: no_route,
            recent: 0,
        });
        s
    }

    #[test]
    fn keeps_at_most_cap_and_counts_recent_refusals_from_the_oldest() {
        let history = History::new(3);
        for (t, n) in [(10, 1), (20, 4), (30, 4), (40, 6)] {
            history.record(&status(t, n));
        }
        let mut now = status(50, 9);
        now.refusals.push(RefusalCount {
            reason: "denied".into(),
            total: 2,
            recent: 0,
        });
        history.decorate(&mut now);
        // The sample at 10 fell out: three kept, plus the current totals.
        let at: Vec<u64> = now.history.iter().map(|s| s.at).collect();
        assert_eq!(at, [20, 30, 40, 50]);
        assert_eq!(now.refusal_window_seconds, 30);
        assert_eq!(now.refusals[0].recent, 5);
        // A reason the oldest sample did not have is recent in full.
        assert_eq!(now.refusals[1].recent, 2);
    }

    #[test]
    fn without_samples_everything_is_recent() {
        let history = History::new(0);
        let mut s = status(7, 3);
        history.decorate(&mut s);
        assert_eq!(s.refusals[0].recent, 3);
        assert_eq!(s.refusal_window_seconds, 7);
        assert_eq!(s.history.len(), 1);
    }
}
