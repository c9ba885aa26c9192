//! New connections per second: a fixed number of workers each repeat the
//! round trip (connect, first flight, 1 KiB answer, close) until the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::cpu::{CpuPerConn, per_conn, tree_cpu};
use crate::exchange::{Failures, round_trip};
use crate::{TargetArgs, flight, seconds};

/// Most workers accepted on the command line.
const MAX_WORKERS: usize = 4096;

/// Pause of a worker after a failed round trip, so that a contender that
/// refuses at once is not hammered in a tight loop.
const FAILURE_PAUSE: Duration = Duration::from_millis(10);

/// `portico-bench connrate`.
#[derive(Debug, Args)]
pub struct ConnrateArgs {
    /// Target, first flight and label.
    #[command(flatten)]
    target: TargetArgs,
    /// Concurrent workers.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Length of the measurement in seconds.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// A process of the contender; its descendants are counted too. Repeat
    /// for several. With any, the contender's CPU time per connection is
    /// reported.
    #[arg(long)]
    pid: Vec<u32>,
}

/// The JSON line of `connrate`.
#[derive(Debug, Serialize)]
pub struct ConnrateResult {
    /// Always `"connrate"`.
    test: &'static str,
    /// The `--label`.
    label: String,
    /// Concurrent workers.
    workers: usize,
    /// Round trips that got the whole answer.
    ok: u64,
    /// Round trips that failed, by kind.
    failures: Failures,
    /// All failures together.
    errors: u64,
    /// Seconds the workers ran.
    seconds: f64,
    /// `ok / seconds`.
    conn_per_sec: f64,
    /// The contender's CPU time per successful round trip (with `--pid`).
    cpu_per_conn: Option<CpuPerConn>,
}

/// Runs the measurement.
pub async fn run(args: ConnrateArgs) -> anyhow::Result<ConnrateResult> {
    if !(1..=MAX_WORKERS).contains(&args.workers) {
        anyhow::bail!("--workers must be 1..={MAX_WORKERS}");
    }
    let duration = seconds(args.duration)?;
    let flight: Arc<[u8]> = flight::load(&args.target.first_flight)?.into();
    let cpu_before = (!args.pid.is_empty()).then(|| tree_cpu(&args.pid));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..args.workers {
        let flight = Arc::clone(&flight);
        let target = args.target.target;
        tasks.spawn(async move {
            let mut ok = 0_u64;
            let mut failures = Failures::default();
            while Instant::now() < deadline {
                match round_trip(target, &flight).await {
                    // Dropping the stream closes it.
                    Ok(_) => ok += 1,
                    Err(failure) => {
                        failures.add(failure);
                        tokio::time::sleep(FAILURE_PAUSE).await;
                    }
                }
            }
            (ok, failures)
        });
    }
    let mut ok = 0;
    let mut failures = Failures::default();
    while let Some(joined) = tasks.join_next().await {
        let (worker_ok, worker_failures) = joined?;
        ok += worker_ok;
        failures.merge(worker_failures);
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_per_conn = cpu_before.and_then(|before| per_conn(before, tree_cpu(&args.pid), ok));
    Ok(ConnrateResult {
        test: "connrate",
        label: args.target.label,
        workers: args.workers,
        ok,
        errors: failures.total(),
        failures,
        seconds,
        conn_per_sec: ok as f64 / seconds,
        cpu_per_conn,
    })
}
