//! One live tunnel session as the gateway tracks it: the link session,
//! where it came from, its stream and byte counters, its probe state, and
//! its `/status` entry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use portico_link::Session;

use crate::metrics::CountBytes;

/// One live session with its counters.
#[derive(Debug)]
pub struct LiveSession {
    /// The link session.
    pub session: Session,
    /// The tunnel client's address.
    pub remote: SocketAddr,
    /// When it was established, in seconds since the Unix epoch.
    pub since: u64,
    open_streams: AtomicU64,
    bytes_to_client: AtomicU64,
    bytes_to_gateway: AtomicU64,
    probing: AtomicBool,
    suspect: AtomicBool,
}

impl LiveSession {
    /// A session established now by a client at `remote`.
    pub fn new(session: Session, remote: SocketAddr) -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        LiveSession {
            session,
            remote,
            since,
            open_streams: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
            bytes_to_gateway: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            suspect: AtomicBool::new(false),
        }
    }

    /// Makes new streams avoid the session until a probe ends.
    pub fn mark_suspect(&self) {
        self.suspect.store(true, Ordering::Release);
    }

    /// Marks a liveness probe running (and, with `suspect`, the session to
    /// be avoided meanwhile); `false` if one already runs.
    pub fn start_probe(&self, suspect: bool) -> bool {
        if self.probing.swap(true, Ordering::AcqRel) {
            return false;
        }
        if suspect {
            self.suspect.store(true, Ordering::Release);
        }
        true
    }

    /// Marks the probe over; the session is no longer avoided.
    pub fn end_probe(&self) {
        self.suspect.store(false, Ordering::Release);
        self.probing.store(false, Ordering::Release);
    }

    /// Whether new streams should avoid the session for now.
    pub fn is_suspect(&self) -> bool {
        self.suspect.load(Ordering::Acquire)
    }

    /// Counts a stream open until the returned guard drops.
    pub fn stream_opened(self: &Arc<Self>) -> OpenStream {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        OpenStream(Arc::clone(self))
    }

    /// The session's `/status` entry.
    pub fn status(&self) -> SessionStatus {
        SessionStatus {
            remote: self.remote,
            since: self.since,
            open_streams: self.open_streams.load(Ordering::Relaxed),
            bytes_to_client: self.bytes_to_client.load(Ordering::Relaxed),
            bytes_to_gateway: self.bytes_to_gateway.load(Ordering::Relaxed),
        }
    }
}

/// Keeps a stream counted in its session's `open_streams`.
#[derive(Debug)]
pub struct OpenStream(Arc<LiveSession>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A session in `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    /// The tunnel client's address.
    pub remote: SocketAddr,
    /// Established at, Unix seconds.
    pub since: u64,
    /// Forwarded connections open on it.
    pub open_streams: u64,
    /// Bytes the gateway sent to the tunnel client.
    pub bytes_to_client: u64,
    /// Bytes the tunnel client sent to the gateway.
    pub bytes_to_gateway: u64,
}

/// A session's byte counters, seen from the relay: the tunnel client is the
/// backend side.
impl CountBytes for LiveSession {
    fn add_to_backend(&self, n: u64) {
        self.bytes_to_client.fetch_add(n, Ordering::Relaxed);
    }

    fn add_to_client(&self, n: u64) {
        self.bytes_to_gateway.fetch_add(n, Ordering::Relaxed);
    }
}
