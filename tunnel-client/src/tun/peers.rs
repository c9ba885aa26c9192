//! Per-peer routes: `c/32` (or `/128`) dev TUN exists while any connection
//! from client IP `c` is open, and a linger after the last one closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::error::TunError;
use super::netlink::Netlink;

/// Reference counts of open connections per client IP, and their routes.
pub(crate) struct PeerRoutes {
    inner: Arc<Inner>,
}

struct Inner {
    netlink: Arc<Netlink>,
    ifindex: u32,
    table: u32,
    linger: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    peers: HashMap<IpAddr, Peer>,
    stopped: bool,
}

/// One client IP whose route is installed.
struct Peer {
    /// Connections from it that are open.
    open: usize,
    /// Bumped on every acquire, so a linger that started before a newer
    /// connection does not remove the route under it.
    generation: u64,
}

/// Keeps the route of one client IP while held; dropping it starts the linger.
pub(crate) struct PeerLease {
    inner: Arc<Inner>,
    ip: IpAddr,
}

impl PeerRoutes {
    /// Routes go to `table` through interface `ifindex` and stay `linger`
    /// after the last lease of their peer is dropped.
    pub(crate) fn new(netlink: Arc<Netlink>, ifindex: u32, table: u32, linger: Duration) -> Self {
        let inner = Inner {
            netlink,
            ifindex,
            table,
            linger,
            state: Mutex::new(State::default()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Counts one more connection from `ip`, installing its route first if needed.
    pub(crate) async fn acquire(&self, ip: IpAddr) -> Result<PeerLease, TunError> {
        let mut state = self.inner.state.lock().await;
        if state.stopped {
            return Err(TunError::Stopped);
        }
        if let Some(peer) = state.peers.get_mut(&ip) {
            peer.open += 1;
            peer.generation = peer.generation.wrapping_add(1);
        } else {
            self.inner
                .netlink
                .add_route(ip, self.inner.ifindex, self.inner.table)
                .await?;
            state.peers.insert(
                ip,
                Peer {
                    open: 1,
                    generation: 0,
                },
            );
        }
        Ok(PeerLease {
            inner: Arc::clone(&self.inner),
            ip,
        })
    }

    /// Removes every route this instance installed; later acquires fail.
    pub(crate) async fn remove_all(&self) -> Result<(), TunError> {
        let mut state = self.inner.state.lock().await;
        state.stopped = true;
        let mut first_error = None;
        for (ip, _) in state.peers.drain() {
            if let Err(e) = self
                .inner
                .netlink
                .del_route(ip, self.inner.ifindex, self.inner.table)
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Inner {
    /// One connection from `ip` closed: after the linger, remove the route
    /// if no connection from `ip` was opened meanwhile.
    async fn release(self: Arc<Self>, ip: IpAddr) {
        let generation = {
            let mut state = self.state.lock().await;
            let Some(peer) = state.peers.get_mut(&ip) else {
                return;
            };
            peer.open = peer.open.saturating_sub(1);
            if peer.open > 0 {
                return;
            }
            peer.generation
        };
        tokio::time::sleep(self.linger).await;
        let mut state = self.state.lock().await;
        if state.stopped {
            return;
        }
        let idle = state
            .peers
            .get(&ip)
            .is_some_and(|p| p.open == 0 && p.generation == generation);
        if idle {
            state.peers.remove(&ip);
            if let Err(error) = self.netlink.del_route(ip, self.ifindex, self.table).await {
                tracing::warn!(%ip, %error, "cannot remove per-peer route");
            }
        }
    }
}

impl Drop for PeerLease {
    fn drop(&mut self) {
        let inner = Arc::clone(&self.inner);
        let ip = self.ip;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(inner.release(ip));
            }
            // Outside a runtime nothing can run the linger; the route stays
            // until shutdown or the next start's sweep removes it.
            Err(_) => tracing::warn!(%ip, "per-peer lease dropped outside the runtime"),
        }
    }
}
