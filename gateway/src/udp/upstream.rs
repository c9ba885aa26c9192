//! A routed flow's side toward its backend: a connected UDP socket of its
//! own (so the backend's replies are told apart by socket, and only the
//! backend's address is accepted), and the task that sends the backend's
//! replies to the client from the listener's own address and port.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::connect::{ConnectError, resolve};
use crate::metrics::{UdpDrop, UdpMetrics};

use super::batch::Batched;

use portico_config::model::Backend;

/// The largest UDP payload (65,535 less the IPv4 and UDP headers); the one
/// receive buffer per thread has this size, so no datagram is cut short.
pub(crate) const MAX_DATAGRAM: usize = 65_507;

thread_local! {
    /// The buffer replies are read into; borrowed only between awaits.
    static REPLY_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; MAX_DATAGRAM]);
}

/// When a flow last carried a datagram either way, in milliseconds since
/// the listener's epoch; shared by the listener's loop and the reply task.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    /// Activity now, counted from `epoch`.
    pub(crate) fn new(epoch: Instant) -> Activity {
        let a = Activity {
            epoch,
            last_ms: AtomicU64::new(0),
        };
        a.touch(Instant::now());
        a
    }

    /// A datagram passed at `now`.
    pub(crate) fn touch(&self, now: Instant) {
        let ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long no datagram has passed, at `now`.
    pub(crate) fn idle(&self, now: Instant) -> Duration {
        let last = self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }
}

/// Sends `datagram` to `to` through `socket` now, or fails (`WouldBlock`
/// when its buffer is full). A direct non-blocking send: tokio's `try_send_to`
/// would also fail on a socket whose write readiness the reactor has not
/// seen yet.
pub(crate) fn send_to_now(
    socket: &UdpSocket,
    datagram: &[u8],
    to: SocketAddr,
) -> io::Result<usize> {
    socket2::SockRef::from(socket).send_to(datagram, &to.into())
}

/// The way back to one client: the listener's socket, sending (in
/// batches, with GSO) from the address the client sent to.
#[derive(Debug)]
pub(crate) struct ToClient {
    /// The listener's socket.
    pub(crate) socket: Arc<UdpSocket>,
    /// Its batching state.
    pub(crate) batch: Arc<Batched>,
    /// The client.
    pub(crate) client: SocketAddr,
    /// The local address the client sent to (None: the kernel picks).
    pub(crate) from_ip: Option<IpAddr>,
}

impl ToClient {
    /// Sends the run `contents` (datagrams of `stride` bytes) now.
    pub(crate) fn send(&self, contents: &[u8], stride: usize) -> io::Result<()> {
        self.batch
            .send(&self.socket, self.client, contents, stride, self.from_ip)
    }
}

/// A flow's socket toward its backend, with its batching state (GRO on).
#[derive(Debug)]
pub(crate) struct Upstream {
    /// The socket, connected to the backend.
    pub(crate) socket: UdpSocket,
    /// Its batching state.
    pub(crate) batch: Batched,
    /// The backend's address.
    pub(crate) peer: SocketAddr,
}

impl Upstream {
    /// Sends the run `contents` (datagrams of `stride` bytes) now.
    pub(crate) fn send(&self, contents: &[u8], stride: usize) -> io::Result<()> {
        self.batch
            .send(&self.socket, self.peer, contents, stride, None)
    }
}

/// Makes the flow's socket toward `backend` (with `default_port` when it
/// names none): resolves the name (under `timeout`), binds an ephemeral
/// port of the address's family and connects it to the first address.
pub(crate) async fn open(
    backend: &Backend,
    default_port: u16,
    timeout: Duration,
) -> Result<Upstream, ConnectError> {
    let addrs = resolve(backend, default_port, timeout).await?;
    let mut last = None;
    for addr in addrs {
        let opened = match bind_connected(addr).await {
            Ok(socket) => Batched::new(&socket).map(|batch| Upstream {
                socket,
                batch,
                peer: addr,
            }),
            Err(e) => Err(e),
        };
        match opened {
            Ok(upstream) => return Ok(upstream),
            Err(source) => last = Some(ConnectError::Connect { addr, source }),
        }
    }
    Err(last.unwrap_or(ConnectError::NoAddress {
        host: backend.host.clone(),
    }))
}

async fn bind_connected(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

/// Sends what the backend answers on `upstream` to the client, until
/// `stop`: each run the kernel hands over (GRO) goes out in one call (GSO).
/// A reply the listener's socket cannot take at once is dropped (UDP), and
/// counted.
pub(crate) async fn relay_replies(
    upstream: Arc<Upstream>,
    to_client: Arc<ToClient>,
    activity: Arc<Activity>,
    metrics: Arc<UdpMetrics>,
    stop: CancellationToken,
) {
    let socket = &upstream.socket;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            ready = socket.readable() => {
                if ready.is_err() {
                    return;
                }
            }
        }
        REPLY_BUF.with_borrow_mut(|buf| {
            loop {
                match upstream.batch.try_recv(socket, buf) {
                    Ok(run) => {
                        let reply = buf.get(..run.len).unwrap_or_default();
                        match to_client.send(reply, run.stride) {
                            Ok(()) => {
                                metrics.to_client_run(run.count(), run.len);
                                activity.touch(Instant::now());
                            }
                            Err(_) => metrics.dropped(UdpDrop::SendFailed, run.count()),
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // An ICMP error from the backend (port unreachable) is
                    // reported on the next receive: the flow goes on, as a
                    // client's retry may find the backend up.
                    Err(_) => break,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_measures_idle_time() {
        let epoch = Instant::now();
        let a = Activity::new(epoch);
        let later = Instant::now() + Duration::from_secs(3);
        assert!(a.idle(later) >= Duration::from_millis(2900));
        a.touch(later);
        assert!(a.idle(later) < Duration::from_millis(10));
        // An older touch does not move the time back.
        a.touch(epoch);
        assert!(a.idle(later) < Duration::from_millis(10));
    }
}
