//! What the tunnel client knows about itself for its `[admin]` endpoint:
//! its live session with the gateway (address, since, open streams, bytes
//! on the wire from QUIC's own counters), the streams it has received, the
//! connections and bytes of each service, and the streams it refused by
//! reason. The reconnect loop, the link and delivery update it;
//! [`crate::admin`] reads it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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

/// Services whose counters are kept at most. Services come from the
/// configuration, but every reload may name new ones and counters are kept
/// across reloads: beyond this many, new services share one uncounted
/// entry instead of growing the table.
pub const MAX_SERVICE_COUNTERS: usize = 1024;

/// Counters of one service.
#[derive(Debug, Default)]
pub struct ServiceCounters {
    connections: AtomicU64,
    active: AtomicI64,
    to_service: AtomicU64,
    from_service: AtomicU64,
}

/// A snapshot of [`ServiceCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceFigures {
    /// Connections delivered to it.
    pub connections: u64,
    /// Open now.
    pub active: i64,
    /// Bytes sent to the service, of finished connections.
    pub to_service: u64,
    /// Bytes the service sent, of finished connections.
    pub from_service: u64,
}

/// Keeps a delivered connection counted as open on its service.
#[derive(Debug)]
pub(crate) struct ServiceUse(Arc<ServiceCounters>);

impl ServiceUse {
    /// Adds a finished connection's bytes.
    pub(crate) fn add_bytes(&self, to_service: u64, from_service: u64) {
        self.0.to_service.fetch_add(to_service, Ordering::Relaxed);
        self.0
            .from_service
            .fetch_add(from_service, Ordering::Relaxed);
    }
}

impl Drop for ServiceUse {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The key of a service's counters: its hosts and address.
pub(crate) fn service_key(service: &portico_config::model::Service) -> String {
    let hosts: Vec<String> = service.hosts.iter().map(ToString::to_string).collect();
    format!("{} {}", hosts.join(","), service.to)
}

/// The client's state for the console; cheap to update.
#[derive(Debug)]
pub struct ClientStatus {
    started: Instant,
    live: Mutex<Option<Live>>,
    streams: AtomicU64,
    permits: Mutex<Option<(Arc<Semaphore>, usize)>>,
    services: Mutex<BTreeMap<String, Arc<ServiceCounters>>>,
    overflow: Arc<ServiceCounters>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for ClientStatus {
    fn default() -> Self {
        ClientStatus {
            started: Instant::now(),
            live: Mutex::new(None),
            streams: AtomicU64::new(0),
            permits: Mutex::new(None),
            services: Mutex::new(BTreeMap::new()),
            overflow: Arc::new(ServiceCounters::default()),
            refusals: Mutex::new(BTreeMap::new()),
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

    /// Counts a connection delivered to the service with `key` (see
    /// [`service_key`]), open until the returned guard drops.
    pub(crate) fn service_open(&self, key: &str) -> ServiceUse {
        let counters = {
            let mut map = self.services.lock().unwrap_or_else(PoisonError::into_inner);
            match map.get(key) {
                Some(c) => Arc::clone(c),
                None if map.len() >= MAX_SERVICE_COUNTERS => Arc::clone(&self.overflow),
                None => {
                    let c = Arc::new(ServiceCounters::default());
                    map.insert(key.to_owned(), Arc::clone(&c));
                    c
                }
            }
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        counters.active.fetch_add(1, Ordering::Relaxed);
        ServiceUse(counters)
    }

    /// The figures of the service with `key` (zero before its first
    /// connection).
    pub fn service_figures(&self, key: &str) -> ServiceFigures {
        let map = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key)
            .map_or_else(ServiceFigures::default, |c| ServiceFigures {
                connections: c.connections.load(Ordering::Relaxed),
                active: c.active.load(Ordering::Relaxed),
                to_service: c.to_service.load(Ordering::Relaxed),
                from_service: c.from_service.load(Ordering::Relaxed),
            })
    }

    /// Counts a stream refused for `reason` (a label).
    pub(crate) fn count_refusal(&self, reason: &'static str) {
        let mut map = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(reason).or_insert(0) += 1;
    }

    /// Refused streams by reason.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        let map = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(reason, n)| (*reason, *n)).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_count_until_the_cap_then_share_one_entry() {
        let status = ClientStatus::default();
        let first = status.service_open("a 127.0.0.1:1");
        first.add_bytes(3, 4);
        drop(first);
        let _open = status.service_open("a 127.0.0.1:1");
        assert_eq!(
            status.service_figures("a 127.0.0.1:1"),
            ServiceFigures {
                connections: 2,
                active: 1,
                to_service: 3,
                from_service: 4
            }
        );
        for i in 0..MAX_SERVICE_COUNTERS + 10 {
            drop(status.service_open(&format!("s{i}")));
        }
        let kept = status.services.lock().map(|m| m.len()).unwrap_or(0);
        assert_eq!(kept, MAX_SERVICE_COUNTERS);
        status.count_refusal("no_service");
        assert_eq!(status.refusals(), [("no_service", 1)]);
    }
}
