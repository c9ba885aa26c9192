//! UDP: the echo sink (`udp-sink`) and the datagram-rate measurement
//! (`udp`). Each client flow is its own socket (its own source port, so a
//! proxy sees one flow per socket) and keeps `window` datagrams of `size`
//! bytes in flight: every echo received sends the next. Datagrams lost on
//! the way are replaced after a quiet spell, so a lossy contender is
//! measured, not stalled. The result counts echoes received per second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;
use tokio::net::UdpSocket;

/// The largest datagram accepted on the command line.
const MAX_SIZE: usize = 65_000;
/// How long a flow waits for an echo before it counts the window as lost
/// and sends a fresh one.
const QUIET: Duration = Duration::from_millis(200);
/// Most flows and most datagrams in flight per flow.
const MAX_FLOWS: usize = 1024;
const MAX_WINDOW: usize = 1024;

/// `udp-sink`: echoes every datagram to its sender.
#[derive(Debug, Args)]
pub struct UdpSinkArgs {
    /// Where to listen.
    #[arg(long)]
    pub listen: SocketAddr,
}

/// Runs the echo sink until killed, on one blocking thread (a contender's
/// cost is what differs between rows; the sink is the same for all).
pub async fn sink(args: UdpSinkArgs) -> anyhow::Result<()> {
    let socket = std::net::UdpSocket::bind(args.listen).context("bind the UDP sink")?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, from) = socket.recv_from(&mut buf).context("receive")?;
            // A full buffer drops the echo, as any UDP server would.
            let _ = socket.send_to(buf.get(..n).unwrap_or_default(), from);
        }
    })
    .await
    .context("the sink thread")?
}

/// `udp`: echoes per second through the contender.
#[derive(Debug, Args)]
pub struct UdpArgs {
    /// The contender's UDP address (or the sink's, for the direct baseline).
    #[arg(long)]
    pub target: SocketAddr,
    /// Name of the contender, copied into the JSON line.
    #[arg(long, default_value = "unnamed")]
    pub label: String,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Client flows (sockets), each its own source port.
    #[arg(long, default_value_t = 8)]
    pub flows: usize,
    /// Datagrams in flight per flow.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Seconds to measure (after a short warm-up).
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
}

/// One measurement's JSON line.
#[derive(Debug, Serialize)]
pub struct UdpResult {
    test: &'static str,
    label: String,
    size: usize,
    flows: usize,
    window: usize,
    seconds: f64,
    /// Echoes received per second (each one datagram each way).
    datagrams_per_sec: f64,
    /// Payload bits per second, both directions counted once (the echo).
    bits_per_sec: f64,
    /// Windows refilled after a quiet spell (lost datagrams).
    refills: u64,
}

/// Runs the measurement.
pub async fn run(args: UdpArgs) -> anyhow::Result<UdpResult> {
    if args.size == 0 || args.size > MAX_SIZE {
        anyhow::bail!("size {} is outside 1..={MAX_SIZE}", args.size);
    }
    if args.flows == 0 || args.flows > MAX_FLOWS || args.window == 0 || args.window > MAX_WINDOW {
        anyhow::bail!("flows and window must be in 1..={MAX_FLOWS}");
    }
    let duration = crate::seconds(args.duration)?;
    let received = Arc::new(AtomicU64::new(0));
    let refills = Arc::new(AtomicU64::new(0));
    let warm_up = Duration::from_millis(300);
    let end = Instant::now() + warm_up + duration;
    let mut tasks = Vec::new();
    for _ in 0..args.flows {
        let local: SocketAddr = if args.target.is_ipv4() {
            "127.0.0.1:0".parse()?
        } else {
            "[::1]:0".parse()?
        };
        let socket = UdpSocket::bind(local)
            .await
            .context("bind a client socket")?;
        socket.connect(args.target).await.context("connect")?;
        let (received, refills) = (Arc::clone(&received), Arc::clone(&refills));
        let (size, window) = (args.size, args.window);
        tasks.push(tokio::spawn(async move {
            flow(socket, size, window, end, &received, &refills).await
        }));
    }
    tokio::time::sleep(warm_up).await;
    let start_count = received.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let count = received.load(Ordering::Relaxed).saturating_sub(start_count);
    for t in tasks {
        t.await.context("a flow task")??;
    }
    let rate = count as f64 / elapsed;
    Ok(UdpResult {
        test: "udp",
        label: args.label,
        size: args.size,
        flows: args.flows,
        window: args.window,
        seconds: elapsed,
        datagrams_per_sec: rate,
        bits_per_sec: rate * args.size as f64 * 8.0,
        refills: refills.load(Ordering::Relaxed),
    })
}

/// One flow: keeps `window` datagrams in flight until `end`.
async fn flow(
    socket: UdpSocket,
    size: usize,
    window: usize,
    end: Instant,
    received: &AtomicU64,
    refills: &AtomicU64,
) -> anyhow::Result<()> {
    let payload = vec![0x5au8; size];
    let mut buf = vec![0u8; 65_535];
    for _ in 0..window {
        socket.send(&payload).await.context("send")?;
    }
    let end = tokio::time::Instant::from_std(end);
    loop {
        let deadline = std::cmp::min(end, tokio::time::Instant::now() + QUIET);
        match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(Ok(_)) => {
                received.fetch_add(1, Ordering::Relaxed);
                // The send buffer may be full for a moment; the refill after
                // a quiet spell makes up for a datagram not sent.
                let _ = socket.try_send(&payload);
            }
            // An ICMP error (nothing listening yet): try again shortly.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(_) if tokio::time::Instant::now() >= end => return Ok(()),
            Err(_) => {
                refills.fetch_add(1, Ordering::Relaxed);
                for _ in 0..window {
                    let _ = socket.try_send(&payload);
                }
            }
        }
        if tokio::time::Instant::now() >= end {
            return Ok(());
        }
    }
}
