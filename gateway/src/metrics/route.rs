//! Counters of one route, for the console: connections it took, how many
//! are open, and the bytes of its finished forwarded connections. They
//! live in the route table's entry and pass to the next table on reload
//! when the route keeps its host patterns.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The counters; shared by the table entries of successive reloads.
#[derive(Debug, Default)]
pub struct RouteCounters {
    connections: AtomicU64,
    active: AtomicI64,
    to_backend: AtomicU64,
    to_client: AtomicU64,
}

/// A snapshot of [`RouteCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteFigures {
    /// Connections routed here.
    pub connections: u64,
    /// Open now.
    pub active: i64,
    /// Bytes towards the backend, of finished connections.
    pub to_backend: u64,
    /// Bytes towards the client, of finished connections.
    pub to_client: u64,
}

impl RouteCounters {
    /// Counts a connection routed here, open until the guard drops.
    pub fn open(self: &Arc<Self>) -> RouteGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
        RouteGuard(Arc::clone(self))
    }

    /// The figures now.
    pub fn figures(&self) -> RouteFigures {
        RouteFigures {
            connections: self.connections.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
            to_backend: self.to_backend.load(Ordering::Relaxed),
            to_client: self.to_client.load(Ordering::Relaxed),
        }
    }
}

/// Keeps a connection counted as open on its route.
#[derive(Debug)]
pub struct RouteGuard(Arc<RouteCounters>);

impl RouteGuard {
    /// Adds a finished connection's bytes.
    pub fn add_bytes(&self, to_backend: u64, to_client: u64) {
        self.0.to_backend.fetch_add(to_backend, Ordering::Relaxed);
        self.0.to_client.fetch_add(to_client, Ordering::Relaxed);
    }
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_open_and_bytes() {
        let c = Arc::new(RouteCounters::default());
        let g = c.open();
        let _h = c.open();
        g.add_bytes(10, 20);
        drop(g);
        assert_eq!(
            c.figures(),
            RouteFigures {
                connections: 2,
                active: 1,
                to_backend: 10,
                to_client: 20
            }
        );
    }
}
