//! The types every byte mover shares: how a forwarded connection ended, its
//! byte totals, the copy buffer's size, half-close, and the idle clock of
//! the movers that run both directions as two tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Buffer size of each direction's copy. The buffer exists only while bytes
/// flow: it is allocated when the source becomes readable and freed before
/// waiting for more, so an idle connection holds none. A read that fills it
/// marks bulk data, which goes on through splice(2) on Linux. 32 KiB by
/// measurement: 16 KiB and 64 KiB cost more gateway CPU per byte copied.
pub const FORWARD_BUFFER: usize = 32 * 1024;

/// How a forwarded connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both directions reached end of stream.
    Done,
    /// No byte either way for the idle timeout.
    Idle,
    /// The gateway is shutting down and the grace period is over.
    Shutdown,
}

/// The result of a forwarded connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Bytes written to the backend (prefix included).
    pub to_backend: u64,
    /// Bytes written to the client.
    pub to_client: u64,
    /// How it ended.
    pub end: End,
}

/// How the bytes of each direction are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Copy small reads; on Linux, hand bulk bursts to splice(2), falling
    /// back to the copy where the kernel refuses it.
    Splice,
    /// Always the copy loop.
    #[cfg_attr(not(test), allow(dead_code))]
    Copy,
}

/// Passes end of stream on to `to`. A peer that already went away cannot be
/// told; that is no reason to cut the other direction short.
pub(crate) fn half_close(to: &TcpStream) {
    let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
}

/// When a connection last moved a byte, shared by its two directions: a
/// base instant and the milliseconds since it, in one atomic.
#[derive(Debug)]
pub(crate) struct IdleClock {
    base: Instant,
    last_ms: AtomicU64,
}

impl IdleClock {
    /// A clock whose last activity is now.
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records activity now.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// The last activity.
    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Completes once `idle` has passed without activity; never without
    /// `idle`. Cancel safe: it only sleeps and reads the clock.
    pub(crate) async fn expired(&self, idle: Option<Duration>) {
        let Some(idle) = idle else {
            return std::future::pending().await;
        };
        loop {
            let deadline = self.last() + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}
