//! Bulk throughput: N streams each send the first flight, then read what
//! the sink (`--mode bulk`) streams back until the measurement ends.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::exchange::{CONNECT_TIMEOUT, Failure, Failures, IO_TIMEOUT};
use crate::{TargetArgs, flight, seconds};

/// Size of each stream's read buffer.
const READ_BUFFER: usize = 256 * 1024;

/// Most streams accepted on the command line.
const MAX_STREAMS: usize = 1024;

/// `portico-bench bulk`.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// Target, first flight and label.
    #[command(flatten)]
    target: TargetArgs,
    /// Parallel streams.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// Length of the measurement in seconds.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
}

/// The JSON line of `bulk`.
#[derive(Debug, Serialize)]
pub struct BulkResult {
    /// Always `"bulk"`.
    test: &'static str,
    /// The `--label`.
    label: String,
    /// Parallel streams.
    streams: usize,
    /// Bytes received by all streams together.
    bytes: u64,
    /// Seconds from the first connect to the end of the measurement.
    seconds: f64,
    /// `bytes / seconds`.
    bytes_per_sec: f64,
    /// Streams that failed to connect, send or receive anything.
    failures: Failures,
}

/// Runs the measurement.
pub async fn run(args: BulkArgs) -> anyhow::Result<BulkResult> {
    if !(1..=MAX_STREAMS).contains(&args.streams) {
        anyhow::bail!("--streams must be 1..={MAX_STREAMS}");
    }
    let duration = seconds(args.duration)?;
    let flight: Arc<[u8]> = flight::load(&args.target.first_flight)?.into();
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + duration);
    let mut tasks = JoinSet::new();
    for _ in 0..args.streams {
        let flight = Arc::clone(&flight);
        let target = args.target.target;
        tasks.spawn(async move { one_stream(target, &flight, deadline).await });
    }
    let mut bytes = 0;
    let mut failures = Failures::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(n)) => bytes += n,
            Ok(Err(failure)) => failures.add(failure),
            Err(_) => failures.add(Failure::Answer),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BulkResult {
        test: "bulk",
        label: args.target.label,
        streams: args.streams,
        bytes,
        seconds,
        bytes_per_sec: bytes as f64 / seconds,
        failures,
    })
}

/// One stream: bytes received until `deadline`.
async fn one_stream(
    target: std::net::SocketAddr,
    flight: &[u8],
    deadline: tokio::time::Instant,
) -> Result<u64, Failure> {
    let mut stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
        Ok(Ok(stream)) => stream,
        _ => return Err(Failure::Connect),
    };
    match timeout(IO_TIMEOUT, stream.write_all(flight)).await {
        Ok(Ok(())) => {}
        _ => return Err(Failure::Send),
    }
    let mut buf = vec![0_u8; READ_BUFFER];
    let mut bytes = 0_u64;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => bytes += n as u64,
            // The sink never closes first: EOF or an error is a failure
            // unless the deadline has passed.
            Ok(_) => {
                return if bytes > 0 {
                    Ok(bytes)
                } else {
                    Err(Failure::Answer)
                };
            }
            Err(_) => break,
        }
    }
    if bytes == 0 {
        return Err(Failure::Answer);
    }
    Ok(bytes)
}
