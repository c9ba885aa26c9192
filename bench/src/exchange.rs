//! The client round trip shared by the connection measurements: connect,
//! send the first flight, read the sink's answer.
//!
//! Connections to a loopback target come from [`SOURCE_ADDRESSES`] source
//! addresses in turn (127.0.0.2 and up). From one address, the kernel's
//! search for a free ephemeral port among thousands of connections in
//! TIME_WAIT (`__inet_hash_connect`) took 57 % of the client's CPU at
//! 14,000 connections per second, and the client, not the contender, set
//! the pace of every run.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// Source addresses the client spreads its loopback connections over.
pub const SOURCE_ADDRESSES: u32 = 64;

/// The source address of the next loopback connection, in turn.
static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// Connects to `target`; a loopback IPv4 target from the next of the
/// [`SOURCE_ADDRESSES`] source addresses, the port chosen at connect time
/// (`IP_BIND_ADDRESS_NO_PORT`) so that it only has to be unique per
/// address pair.
pub async fn connect(target: SocketAddr) -> io::Result<TcpStream> {
    if !matches!(target, SocketAddr::V4(v4) if v4.ip().is_loopback()) {
        return TcpStream::connect(target).await;
    }
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % SOURCE_ADDRESSES;
    let source = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + n);
    let socket = TcpSocket::new_v4()?;
    setsockopt(&socket, IpBindAddressNoPort, &true).map_err(io::Error::from)?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(target).await
}

/// Bytes the sink answers in `answer` mode.
pub const ANSWER_LEN: usize = 1024;

/// Bound on the TCP connect to the contender.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bound on sending the first flight and on reading the whole answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection that got its whole answer.
#[derive(Debug)]
pub struct Answered {
    /// The open connection, for callers that keep it.
    pub stream: TcpStream,
    /// When the first byte of the answer arrived.
    pub first_byte_at: Instant,
}

/// Why a round trip failed; only counted, so a short name is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connect failed or took longer than [`CONNECT_TIMEOUT`].
    Connect,
    /// Sending the first flight failed or timed out.
    Send,
    /// The answer was cut short, failed, or timed out.
    Answer,
}

/// Connects to `target`, sends `flight`, and reads [`ANSWER_LEN`] bytes.
pub async fn round_trip(target: SocketAddr, flight: &[u8]) -> Result<Answered, Failure> {
    let mut stream = match timeout(CONNECT_TIMEOUT, connect(target)).await {
        Ok(Ok(stream)) => stream,
        _ => return Err(Failure::Connect),
    };
    // Best effort: the flight is one write either way.
    let _ = stream.set_nodelay(true);
    match timeout(IO_TIMEOUT, stream.write_all(flight)).await {
        Ok(Ok(())) => {}
        _ => return Err(Failure::Send),
    }
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    let mut answer = [0_u8; ANSWER_LEN];
    let mut got = 0;
    let mut first_byte_at = None;
    while let Some(rest) = answer.get_mut(got..).filter(|rest| !rest.is_empty()) {
        match tokio::time::timeout_at(deadline, stream.read(rest)).await {
            Ok(Ok(n)) if n > 0 => {
                first_byte_at.get_or_insert_with(Instant::now);
                got += n;
            }
            _ => return Err(Failure::Answer),
        }
    }
    let first_byte_at = first_byte_at.ok_or(Failure::Answer)?;
    Ok(Answered {
        stream,
        first_byte_at,
    })
}

/// Counts of failed round trips by kind.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Failures {
    /// Connects that failed or timed out.
    pub connect: u64,
    /// First flights that could not be sent.
    pub send: u64,
    /// Answers that were cut short or timed out.
    pub answer: u64,
}

impl Failures {
    /// Counts one failure.
    pub fn add(&mut self, failure: Failure) {
        match failure {
            Failure::Connect => self.connect += 1,
            Failure::Send => self.send += 1,
            Failure::Answer => self.answer += 1,
        }
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: Failures) {
        self.connect += other.connect;
        self.send += other.send;
        self.answer += other.answer;
    }

    /// All failures together.
    pub fn total(&self) -> u64 {
        self.connect + self.send + self.answer
    }
}
