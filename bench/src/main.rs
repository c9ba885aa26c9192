//! `portico-bench`: the load generator and sink behind `bench/run.sh`.
//!
//! One binary, two roles. `sink` is the backend every contender forwards
//! to: it reads the client's first flight (a TLS ClientHello) and then
//! either streams bytes back as fast as it can (`--mode bulk`) or answers
//! 1 KiB and holds the connection until the client closes (`--mode
//! answer`). The client commands (`bulk`, `connrate`, `latency`, `idle`)
//! send the same first flight through the contender under test and print
//! one JSON line of results on stdout.
//!
//! Modules: [`flight`] loads the first flight and finds where it ends,
//! [`exchange`] is the one client round trip the measurements share,
//! [`sink`] the backend, [`bulk`], [`connrate`], [`latency`] and [`idle`]
//! the measurements, [`udp`] the UDP echo sink and datagram rate, [`quic`]
//! the QUIC (HTTP/3 transport) bulk sink and client, [`rss`] the `/proc` memory reading, [`fdlimit`] the
//! file-descriptor limit.

mod bulk;
mod connrate;
mod cpu;
mod exchange;
mod fdlimit;
mod flight;
mod idle;
mod latency;
mod quic;
mod rss;
mod sink;
mod udp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

/// Command line of `portico-bench`.
#[derive(Debug, Parser)]
#[command(
    name = "portico-bench",
    about = "Load generator and sink for bench/run.sh"
)]
struct Cli {
    /// What to run.
    #[command(subcommand)]
    command: Command,
}

/// The sink and the four measurements.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the backend that every contender forwards to.
    Sink(sink::SinkArgs),
    /// Bulk throughput: server-to-client bytes per second over N streams.
    Bulk(bulk::BulkArgs),
    /// New connections per second with a fixed number of workers.
    Connrate(connrate::ConnrateArgs),
    /// Time to first byte at a fixed open-loop connection rate.
    Latency(latency::LatencyArgs),
    /// Memory per idle proxied connection.
    Idle(idle::IdleArgs),
    /// Run the UDP echo sink.
    UdpSink(udp::UdpSinkArgs),
    /// UDP datagrams per second through a contender (echoed by the sink).
    Udp(udp::UdpArgs),
    /// Run the QUIC bulk sink (ALPN h3).
    QuicSink(quic::QuicSinkArgs),
    /// QUIC bulk throughput through a contender that routes QUIC by SNI.
    QuicBulk(quic::QuicBulkArgs),
}

/// What every client command needs: where to connect and what to send.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Address of the contender (or of the sink, for the direct baseline).
    #[arg(long)]
    pub target: SocketAddr,
    /// File whose bytes are sent first on every connection (a ClientHello).
    #[arg(long)]
    pub first_flight: PathBuf,
    /// Name of the contender, copied into the JSON line.
    #[arg(long, default_value = "unnamed")]
    pub label: String,
}

/// Seconds given on the command line, as a bounded [`Duration`].
pub fn seconds(value: f64) -> anyhow::Result<Duration> {
    /// The longest measurement accepted; every run is meant to be short.
    const MAX_SECONDS: f64 = 600.0;
    if !(value.is_finite() && value > 0.0 && value <= MAX_SECONDS) {
        anyhow::bail!("duration {value} s is outside 0..={MAX_SECONDS} s");
    }
    Ok(Duration::from_secs_f64(value))
}

/// Prints `result` as one JSON line on stdout.
fn print_json<T: Serialize>(result: &T) -> anyhow::Result<()> {
    let line = serde_json::to_string(result).context("encode result")?;
    println!("{line}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let limit = fdlimit::raise_nofile().context("raise RLIMIT_NOFILE")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Sink(args) => sink::run(args).await,
            Command::Bulk(args) => print_json(&bulk::run(args).await?),
            Command::Connrate(args) => print_json(&connrate::run(args).await?),
            Command::Latency(args) => print_json(&latency::run(args).await?),
            Command::Idle(args) => print_json(&idle::run(args, limit).await?),
            Command::UdpSink(args) => udp::sink(args).await,
            Command::Udp(args) => print_json(&udp::run(args).await?),
            Command::QuicSink(args) => quic::sink(args).await,
            Command::QuicBulk(args) => print_json(&quic::bulk(args).await?),
        }
    })
}
