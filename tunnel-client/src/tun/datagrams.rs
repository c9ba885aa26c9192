//! One delivered UDP flow: datagrams from an original client address and
//! port to a local service, through a smoltcp UDP socket bound to the
//! client's address, and the service's replies back.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;

use smoltcp::iface::SocketHandle;
use tokio::sync::OwnedSemaphorePermit;

use super::peers::PeerLease;
use super::stack::Stack;

/// A UDP flow from an original client address to a local service, opened
/// through the userspace stack (by `TunDelivery::open_udp`). Dropping it
/// removes the socket and gives back its slot and route lease.
pub struct TunDatagrams {
    stack: Arc<Stack>,
    handle: SocketHandle,
    service: SocketAddr,
    _lease: PeerLease,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for TunDatagrams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDatagrams")
            .field("handle", &self.handle)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl TunDatagrams {
    pub(crate) fn new(
        stack: Arc<Stack>,
        handle: SocketHandle,
        service: SocketAddr,
        lease: PeerLease,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            stack,
            handle,
            service,
            _lease: lease,
            _permit: permit,
        }
    }

    /// Sends `datagram` to the service; false when the socket's buffer is
    /// full (the datagram is dropped, as UDP would).
    pub fn send(&self, datagram: &[u8]) -> bool {
        self.stack.send_udp(self.handle, self.service, datagram)
    }

    /// The service's next datagram. Cancel safe.
    pub async fn recv(&self) -> Vec<u8> {
        poll_fn(|cx| self.stack.poll_recv_udp(self.handle, self.service, cx)).await
    }
}

impl Drop for TunDatagrams {
    fn drop(&mut self) {
        self.stack.release_udp(self.handle);
    }
}
