//! What the tunnel client knows about itself for its `[admin]` endpoint:
//! its live session with the gateway (address, since, open streams, bytes
//! on the wire from QUIC's own counters) and the streams it has received.
//! The reconnect loop and the link update it; [`crate::admin`] reads it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

/// The session up right now.
#[derive(Debug, Clone)]
struct Live {
    gateway: SocketAddr,
    since: u64,
    connection: quinn::Connection,
}

/// One session as the status document shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFigures {
    /// The gateway's address.
    pub gateway: SocketAddr,
    /// Established at, Unix seconds.
    pub since: u64,
    /// UDP payload bytes received from the gateway.
    pub bytes_in: u64,
    /// UDP payload bytes sent to the gateway.
    pub bytes_out: u64,
}

/// The client's state for the console; cheap to update.
#[derive(Debug)]
pub struct ClientStatus {
    started: Instant,
    live: Mutex<Option<Live>>,
    streams: AtomicU64,
    permits: Mutex<Option<(Arc<Semaphore>, usize)>>,
}

impl Default for ClientStatus {
    fn default() -> Self {
        ClientStatus {
            started: Instant::now(),
            live: Mutex::new(None),
            streams: AtomicU64::new(0),
            permits: Mutex::new(None),
        }
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ClientStatus {
    /// Seconds since the client started.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The stream permits, to count open streams.
    pub(crate) fn attach_permits(&self, permits: Arc<Semaphore>, max: usize) {
        *self.permits.lock().unwrap_or_else(PoisonError::into_inner) = Some((permits, max));
    }

    /// A session with `gateway` is up.
    pub(crate) fn session_up(&self, gateway: SocketAddr, connection: quinn::Connection) {
        *self.live.lock().unwrap_or_else(PoisonError::into_inner) = Some(Live {
            gateway,
            since: unix_now(),
            connection,
        });
    }

    /// The session is gone.
    pub(crate) fn session_down(&self) {
        *self.live.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The gateway opened a stream.
    pub(crate) fn count_stream(&self) {
        self.streams.fetch_add(1, Ordering::Relaxed);
    }

    /// Streams received since start.
    pub fn streams(&self) -> u64 {
        self.streams.load(Ordering::Relaxed)
    }

    /// Streams being delivered now, over all sessions.
    pub fn open_streams(&self) -> u64 {
        let permits = self.permits.lock().unwrap_or_else(PoisonError::into_inner);
        permits.as_ref().map_or(0, |(sem, max)| {
            u64::try_from(max.saturating_sub(sem.available_permits())).unwrap_or(0)
        })
    }

    /// The live session, if any.
    pub fn session(&self) -> Option<SessionFigures> {
        let live = self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let stats = live.connection.stats();
        Some(SessionFigures {
            gateway: live.gateway,
            since: live.since,
            bytes_in: stats.udp_rx.bytes,
            bytes_out: stats.udp_tx.bytes,
        })
    }
}
