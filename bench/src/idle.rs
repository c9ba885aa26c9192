//! Memory per idle proxied connection: open N connections through the
//! contender, each having sent its first flight and got the sink's answer
//! (so each is forwarded end to end), and compare the contender's memory
//! before and after.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::exchange::{Failures, round_trip};
use crate::rss::{TreeMemory, tree_memory};
use crate::{TargetArgs, flight, seconds};

/// Round trips in progress at once while opening the connections.
const OPEN_CONCURRENCY: usize = 256;

/// Most connections accepted on the command line.
const MAX_COUNT: usize = 100_000;

/// Pause between the last connection opened and the second reading, so
/// that the contender's allocator has settled.
const SETTLE: Duration = Duration::from_secs(1);

/// `portico-bench idle`.
#[derive(Debug, Args)]
pub struct IdleArgs {
    /// Target, first flight and label.
    #[command(flatten)]
    target: TargetArgs,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// A process of the contender; its descendants are counted too.
    /// Repeat for several. Without any, no memory is read.
    #[arg(long)]
    pid: Vec<u32>,
    /// Bound on opening all connections, in seconds.
    #[arg(long, default_value_t = 60.0)]
    open_timeout: f64,
}

/// The JSON line of `idle`.
#[derive(Debug, Serialize)]
pub struct IdleResult {
    /// Always `"idle"`.
    test: &'static str,
    /// The `--label`.
    label: String,
    /// Connections asked for.
    count: usize,
    /// Connections open end to end at the second reading.
    opened: u64,
    /// Round trips that failed, by kind.
    failures: Failures,
    /// Whether `--open-timeout` cut the opening short.
    timed_out: bool,
    /// This process's open-file limit.
    nofile_limit: u64,
    /// The contender's memory before.
    before: Option<TreeMemory>,
    /// The contender's memory with the connections open.
    after: Option<TreeMemory>,
    /// Whether none of the contender's processes was left at the second
    /// reading (it crashed or exited); the per-connection figures are then
    /// absent.
    contender_gone: bool,
    /// `(after - before) / opened` of `VmRSS`, bytes.
    rss_per_conn_bytes: Option<f64>,
    /// `(after - before) / opened` of `Pss`, bytes.
    pss_per_conn_bytes: Option<f64>,
}

/// Runs the measurement.
pub async fn run(args: IdleArgs, nofile_limit: u64) -> anyhow::Result<IdleResult> {
    if !(1..=MAX_COUNT).contains(&args.count) {
        anyhow::bail!("--count must be 1..={MAX_COUNT}");
    }
    let open_timeout = seconds(args.open_timeout)?;
    let flight: Arc<[u8]> = flight::load(&args.target.first_flight)?.into();
    let measure = !args.pid.is_empty();
    let before = measure.then(|| tree_memory(&args.pid));

    let gate = Arc::new(Semaphore::new(OPEN_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for _ in 0..args.count {
        let flight = Arc::clone(&flight);
        let target = args.target.target;
        let gate = Arc::clone(&gate);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            round_trip(target, &flight)
                .await
                .map(|answered| answered.stream)
        });
    }
    let mut streams = Vec::with_capacity(args.count);
    let mut failures = Failures::default();
    let collected = tokio::time::timeout(open_timeout, async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(stream)) => streams.push(stream),
                Ok(Err(failure)) => failures.add(failure),
                Err(_) => failures.add(crate::exchange::Failure::Answer),
            }
        }
    })
    .await;
    let timed_out = collected.is_err();
    tasks.abort_all();

    tokio::time::sleep(SETTLE).await;
    let after = measure.then(|| tree_memory(&args.pid));
    let opened = streams.len() as u64;
    // A contender that died while the connections opened has no "after".
    let contender_gone = after.is_some_and(|after| after.processes == 0);
    let per_conn = |pick: fn(&TreeMemory) -> u64| -> Option<f64> {
        let (before, after) = (before?, after?);
        (opened > 0 && !contender_gone)
            .then(|| (pick(&after) as f64 - pick(&before) as f64) * 1024.0 / opened as f64)
    };
    let result = IdleResult {
        test: "idle",
        label: args.target.label,
        count: args.count,
        opened,
        failures,
        timed_out,
        nofile_limit,
        contender_gone,
        rss_per_conn_bytes: per_conn(|m| m.rss_kib),
        pss_per_conn_bytes: per_conn(|m| m.pss_kib),
        before,
        after,
    };
    drop(streams);
    Ok(result)
}
