//! One listener as its connections see it: its name, its settings (a
//! reload may replace them), the address it is bound to and its counters.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use portico_config::model::Listener;

use crate::metrics::ListenerMetrics;

/// One listener as its connections see it.
#[derive(Debug)]
pub(crate) struct ListenerContext {
    /// The `listener` label: the configured bind address.
    pub name: String,
    /// The listener's settings; a reload may replace them.
    pub settings: ArcSwap<Listener>,
    /// The address the listening socket is bound to (its real port when the
    /// configuration said 0). Where its IP is specific, every connection's
    /// local address is this one, and no system call is needed to learn it.
    pub bound: SocketAddr,
    /// Its counters.
    pub metrics: Arc<ListenerMetrics>,
}
