//! Time to first byte at a fixed rate: connections are started on a fixed
//! schedule (open loop), whatever the contender's speed, and each one's
//! time from its scheduled start to the first answer byte is recorded.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::exchange::{Failures, round_trip};
use crate::{TargetArgs, flight, seconds};

/// Highest rate accepted on the command line, in connections per second.
const MAX_RATE: f64 = 100_000.0;

/// Most connections in flight; a start beyond this is counted as
/// `dropped` instead of piling up without bound.
const MAX_IN_FLIGHT: usize = 10_000;

/// `portico-bench latency`.
#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Target, first flight and label.
    #[command(flatten)]
    target: TargetArgs,
    /// New connections per second.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Length of the schedule in seconds.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
}

/// The JSON line of `latency`.
#[derive(Debug, Serialize)]
pub struct LatencyResult {
    /// Always `"latency"`.
    test: &'static str,
    /// The `--label`.
    label: String,
    /// Scheduled connections per second.
    rate: f64,
    /// Connections that got their whole answer.
    ok: u64,
    /// Failed round trips, by kind.
    failures: Failures,
    /// Starts skipped because [`MAX_IN_FLIGHT`] connections were open.
    dropped: u64,
    /// All failures and drops together.
    errors: u64,
    /// Median time to first byte, microseconds.
    p50_us: Option<u64>,
    /// 99th percentile time to first byte, microseconds.
    p99_us: Option<u64>,
    /// Largest time to first byte, microseconds.
    max_us: Option<u64>,
}

/// Runs the measurement.
pub async fn run(args: LatencyArgs) -> anyhow::Result<LatencyResult> {
    if !(args.rate > 0.0 && args.rate <= MAX_RATE) {
        anyhow::bail!("--rate must be in (0, {MAX_RATE}]");
    }
    let duration = seconds(args.duration)?;
    let flight: Arc<[u8]> = flight::load(&args.target.first_flight)?.into();
    let period = Duration::from_secs_f64(1.0 / args.rate);
    // Bounded by the checks above: at most MAX_RATE * 600 s.
    let total = (args.rate * duration.as_secs_f64()).round() as u64;
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let target = args.target.target;
    let runtime = tokio::runtime::Handle::current();
    // The schedule is kept by a thread of its own sleeping with the system's
    // high-resolution timer: tokio's timer has a 1 ms tick, which would add
    // up to 1 ms between a connection's scheduled and actual start and
    // blur every contender's figures alike.
    let (handles, dropped) = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        let mut handles = Vec::new();
        let mut dropped = 0_u64;
        for i in 0..total {
            let Some(offset) = u32::try_from(i).ok().and_then(|i| period.checked_mul(i)) else {
                break;
            };
            let scheduled = start + offset;
            std::thread::sleep(scheduled.saturating_duration_since(std::time::Instant::now()));
            let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                dropped += 1;
                continue;
            };
            let flight = Arc::clone(&flight);
            handles.push(runtime.spawn(async move {
                let outcome = round_trip(target, &flight).await.map(|answered| {
                    micros(answered.first_byte_at.saturating_duration_since(scheduled))
                });
                drop(permit);
                outcome
            }));
        }
        (handles, dropped)
    })
    .await?;
    let mut samples = Vec::new();
    let mut failures = Failures::default();
    for handle in handles {
        match handle.await? {
            Ok(us) => samples.push(us),
            Err(failure) => failures.add(failure),
        }
    }
    samples.sort_unstable();
    Ok(LatencyResult {
        test: "latency",
        label: args.target.label,
        rate: args.rate,
        ok: samples.len() as u64,
        errors: failures.total() + dropped,
        failures,
        dropped,
        p50_us: percentile(&samples, 50.0),
        p99_us: percentile(&samples, 99.0),
        max_us: samples.last().copied(),
    })
}

/// Whole microseconds, saturating.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Nearest-rank percentile `p` (0–100) of sorted `samples`.
fn percentile(samples: &[u64], p: f64) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples.get(rank.clamp(1, samples.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2, 3], 0.0), Some(1));
    }
}
