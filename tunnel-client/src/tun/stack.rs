//! The userspace TCP/IP stack: one task owns the smoltcp `Interface` and
//! `SocketSet`, moves packets between them and the TUN device, and wakes
//! the connection handles; the handles reach their sockets through a mutex.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{AnySocket, tcp, udp};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpEndpoint, Ipv4Address, Ipv6Address};
use tokio::sync::Notify;
use tun_rs::AsyncDevice;

use super::device::PacketQueues;
use super::error::TunError;
use super::settings::TunSettings;

/// Most packets read from the TUN before smoltcp processes them.
pub(crate) const RX_BATCH: usize = 64;

/// Longest sleep of an idle stack task between two polls.
pub(crate) const IDLE_POLL: Duration = Duration::from_secs(1);

/// Datagrams a UDP socket of the stack holds each way before it drops more.
pub(crate) const UDP_DATAGRAMS: usize = 64;

/// Payload bytes a UDP socket of the stack holds each way.
pub(crate) const UDP_BUFFER: usize = 128 * 1024;

/// Idle timeout given to a socket whose handle was dropped before it
/// finished closing: it is aborted after this long without progress.
pub(crate) const ORPHAN_TIMEOUT: Duration = Duration::from_secs(60);

/// State the stack task and the connection handles share.
pub(crate) struct Stack {
    state: Mutex<StackState>,
    /// Wakes the stack task: a handle queued data, read data, or closed.
    wake: Notify,
    settings: TunSettings,
}

struct StackState {
    iface: Interface,
    sockets: SocketSet<'static>,
    queues: PacketQueues,
    /// Sockets whose handle was dropped: removed once closed.
    orphans: HashSet<SocketHandle>,
}

/// A monotonic millisecond clock for TCP timestamps, continuing from the
/// wall clock at first use so that it also grows across restarts: the
/// kernel then accepts a new SYN from a client port that is in TIME_WAIT.
fn tsval() -> u32 {
    static START: OnceLock<(std::time::Instant, u64)> = OnceLock::new();
    let (start, epoch_ms) = *START.get_or_init(|| {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (std::time::Instant::now(), epoch.as_millis() as u64)
    });
    let elapsed = start.elapsed().as_millis() as u64;
    // Truncation is the point: TCP timestamps wrap modulo 2^32.
    epoch_ms.wrapping_add(elapsed) as u32
}

fn endpoint(addr: SocketAddr) -> IpEndpoint {
    IpEndpoint::new(addr.ip().into(), addr.port())
}

/// How a connection attempt ended.
pub(crate) enum Handshake {
    /// Established.
    Open,
    /// Reset by the service.
    Refused,
}

impl Stack {
    /// A stack with no sockets for a device of `settings.mtu`.
    pub(crate) fn new(settings: TunSettings) -> Result<Arc<Self>, TunError> {
        let mut queues = PacketQueues::new(usize::from(settings.mtu));
        let config = Config::new(HardwareAddress::Ip);
        let mut iface = Interface::new(config, &mut queues, SmolInstant::now());
        // Accept packets for any destination (the original client addresses)
        // and send everything back into the TUN: default routes for both
        // families; with Medium::Ip the gateway address is never used.
        iface.set_any_ip(true);
        let routes = iface.routes_mut();
        let v4 = routes.add_default_ipv4_route(Ipv4Address::new(192, 0, 0, 8));
        let v6 = routes.add_default_ipv6_route(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        if v4.is_err() || v6.is_err() {
            return Err(TunError::Stopped);
        }
        Ok(Arc::new(Self {
            state: Mutex::new(StackState {
                iface,
                sockets: SocketSet::new(Vec::new()),
                queues,
                orphans: HashSet::new(),
            }),
            wake: Notify::new(),
            settings,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, StackState> {
        // A panic while holding the lock cannot leave the smoltcp state
        // half-updated in a way later polls would mind; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the stack task there is work.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Creates a socket and starts the handshake from `client` to `service`.
    pub(crate) fn open(
        &self,
        client: SocketAddr,
        service: SocketAddr,
    ) -> Result<SocketHandle, TunError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (local, remote) = (endpoint(client), endpoint(service));
        let in_use = state.sockets.iter().any(|(_, s)| {
            tcp::Socket::downcast(s).is_some_and(|t| {
                t.local_endpoint() == Some(local) && t.remote_endpoint() == Some(remote)
            })
        });
        if in_use {
            return Err(TunError::AddressInUse { client, service });
        }
        let rx = tcp::SocketBuffer::new(vec![0; self.settings.socket_rx_buf]);
        let tx = tcp::SocketBuffer::new(vec![0; self.settings.socket_tx_buf]);
        let mut socket = tcp::Socket::new(rx, tx);
        socket.set_nagle_enabled(false);
        socket.set_ack_delay(None);
        socket.set_tsval_generator(Some(tsval));
        socket
            .connect(state.iface.context(), remote, local)
            .map_err(|_| TunError::Unaddressable { client, service })?;
        let handle = state.sockets.add(socket);
        drop(guard);
        self.wake();
        Ok(handle)
    }

    /// Creates a UDP socket bound to `client` (an original client address
    /// and port), whose datagrams go to services from that address.
    pub(crate) fn open_udp(&self, client: SocketAddr) -> Result<SocketHandle, TunError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let local = endpoint(client);
        let in_use = state
            .sockets
            .iter()
            .any(|(_, s)| udp::Socket::downcast(s).is_some_and(|u| u.endpoint() == local.into()));
        if in_use {
            return Err(TunError::AddressInUse {
                client,
                service: client,
            });
        }
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; UDP_DATAGRAMS],
                vec![0; UDP_BUFFER],
            )
        };
        let mut socket = udp::Socket::new(buffer(), buffer());
        socket.bind(local).map_err(|_| TunError::Unaddressable {
            client,
            service: client,
        })?;
        Ok(state.sockets.add(socket))
    }

    /// Queues `datagram` from the UDP socket `handle` to `service`; false
    /// when its buffer is full or the datagram cannot be sent.
    pub(crate) fn send_udp(
        &self,
        handle: SocketHandle,
        service: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let sent = {
            let mut state = self.lock();
            let socket = state.sockets.get_mut::<udp::Socket<'static>>(handle);
            socket.send_slice(datagram, endpoint(service)).is_ok()
        };
        self.wake();
        sent
    }

    /// The next datagram the UDP socket `handle` received from `service`
    /// (others are dropped), or `Pending` with the waker registered.
    pub(crate) fn poll_recv_udp(
        &self,
        handle: SocketHandle,
        service: SocketAddr,
        cx: &mut Context<'_>,
    ) -> Poll<Vec<u8>> {
        let mut state = self.lock();
        let socket = state.sockets.get_mut::<udp::Socket<'static>>(handle);
        let from = endpoint(service);
        while let Ok((data, meta)) = socket.recv() {
            if meta.endpoint == from {
                return Poll::Ready(data.to_vec());
            }
        }
        socket.register_recv_waker(cx.waker());
        Poll::Pending
    }

    /// The UDP socket's handle is gone: remove the socket.
    pub(crate) fn release_udp(&self, handle: SocketHandle) {
        self.lock().sockets.remove(handle);
    }

    /// Runs `f` on the socket of a live handle.
    pub(crate) fn with_socket<R>(
        &self,
        handle: SocketHandle,
        f: impl FnOnce(&mut tcp::Socket<'static>) -> R,
    ) -> R {
        let mut state = self.lock();
        // Handles given out by `open` stay valid until `release`: only
        // orphans are ever removed from the set.
        f(state.sockets.get_mut::<tcp::Socket<'static>>(handle))
    }

    /// Polls the handshake of `handle`.
    pub(crate) fn poll_handshake(
        &self,
        handle: SocketHandle,
        cx: &mut Context<'_>,
    ) -> Poll<Handshake> {
        self.with_socket(handle, |socket| match socket.state() {
            tcp::State::SynSent | tcp::State::SynReceived => {
                socket.register_send_waker(cx.waker());
                Poll::Pending
            }
            tcp::State::Closed => Poll::Ready(Handshake::Refused),
            _ => Poll::Ready(Handshake::Open),
        })
    }

    /// The handle is gone: close the socket gracefully and forget it once closed.
    pub(crate) fn release(&self, handle: SocketHandle) {
        let mut state = self.lock();
        let socket = state.sockets.get_mut::<tcp::Socket<'static>>(handle);
        socket.close();
        if socket.state() == tcp::State::Closed {
            state.sockets.remove(handle);
        } else {
            socket.set_timeout(Some(ORPHAN_TIMEOUT.into()));
            state.orphans.insert(handle);
        }
        drop(state);
        self.wake();
    }

    /// Sockets still in the set (open, closing, or lingering orphans).
    pub(crate) fn socket_count(&self) -> usize {
        self.lock().sockets.iter().count()
    }

    /// The stack task: runs until the TUN device fails or the task is aborted.
    pub(crate) async fn run(self: Arc<Self>, tun: AsyncDevice) -> Result<(), TunError> {
        let mut buf = vec![0u8; usize::from(self.settings.mtu)];
        let mut received = Vec::with_capacity(RX_BATCH);
        loop {
            while received.len() < RX_BATCH {
                match tun.try_recv(&mut buf) {
                    Ok(n) => received.push(buf.get(..n).unwrap_or_default().to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(TunError::DeviceIo(e)),
                }
            }
            let more_input = received.len() >= RX_BATCH;
            let (outgoing, tx_full, delay) = self.poll_once(&mut received);
            for packet in &outgoing {
                tun.send(packet).await.map_err(TunError::DeviceIo)?;
            }
            if more_input || tx_full || delay == Some(Duration::ZERO) {
                tokio::task::yield_now().await;
                continue;
            }
            let sleep = delay.map_or(IDLE_POLL, |d| d.min(IDLE_POLL));
            tokio::select! {
                ready = tun.readable() => ready.map_err(TunError::DeviceIo)?,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Feeds `received` to smoltcp, polls once, removes finished orphans.
    /// Returns the packets to write, whether smoltcp has more to send, and
    /// how long until smoltcp wants to be polled again.
    fn poll_once(&self, received: &mut Vec<Vec<u8>>) -> (Vec<Vec<u8>>, bool, Option<Duration>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.queues.rx.extend(received.drain(..));
        let now = SmolInstant::now();
        state.iface.poll(now, &mut state.queues, &mut state.sockets);
        let tx_full = state.queues.tx_full();
        let outgoing = std::mem::take(&mut state.queues.tx);
        let finished: Vec<SocketHandle> = state
            .orphans
            .iter()
            .copied()
            .filter(|h| {
                let socket = state.sockets.get::<tcp::Socket<'static>>(*h);
                matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait)
            })
            .collect();
        for handle in finished {
            state.orphans.remove(&handle);
            state.sockets.remove(handle);
        }
        let delay = state
            .iface
            .poll_delay(now, &state.sockets)
            .map(Duration::from);
        (outgoing, tx_full, delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Arc<Stack> {
        Stack::new(TunSettings::default()).unwrap()
    }

    #[test]
    fn tsval_never_goes_back() {
        let first = tsval();
        let second = tsval();
        assert!(second.wrapping_sub(first) < 1 << 31);
    }

    #[test]
    fn one_connection_per_endpoint_pair() {
        let stack = stack();
        let client: SocketAddr = "203.0.113.7:40001".parse().unwrap();
        let service: SocketAddr = "10.77.0.1:443".parse().unwrap();
        let other: SocketAddr = "10.77.0.1:444".parse().unwrap();
        let handle = stack.open(client, service).unwrap();
        assert!(matches!(
            stack.open(client, service),
            Err(TunError::AddressInUse { .. })
        ));
        stack.open(client, other).unwrap();
        assert_eq!(stack.socket_count(), 2);
        // A connection that never got an answer is gone once released.
        stack.release(handle);
        assert_eq!(stack.socket_count(), 1);
        stack.open(client, service).unwrap();
    }

    #[test]
    fn unusable_endpoints_are_refused() {
        let stack = stack();
        let service: SocketAddr = "10.77.0.1:443".parse().unwrap();
        for client in ["203.0.113.7:0", "0.0.0.0:40001"] {
            let client: SocketAddr = client.parse().unwrap();
            assert!(matches!(
                stack.open(client, service),
                Err(TunError::Unaddressable { .. })
            ));
        }
        assert_eq!(stack.socket_count(), 0);
    }

    #[test]
    fn the_handshake_starts_with_a_syn_from_the_client() {
        let stack = stack();
        let client: SocketAddr = "203.0.113.7:40001".parse().unwrap();
        let service: SocketAddr = "10.77.0.1:443".parse().unwrap();
        stack.open(client, service).unwrap();
        let (packets, _, _) = stack.poll_once(&mut Vec::new());
        assert_eq!(packets.len(), 1);
        let ip = smoltcp::wire::Ipv4Packet::new_checked(&packets[0]).unwrap();
        assert_eq!(ip.src_addr(), Ipv4Address::new(203, 0, 113, 7));
        assert_eq!(ip.dst_addr(), Ipv4Address::new(10, 77, 0, 1));
        assert!(ip.verify_checksum());
        let tcp = smoltcp::wire::TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.syn() && !tcp.ack());
        assert_eq!((tcp.src_port(), tcp.dst_port()), (40001, 443));
        let repr = smoltcp::wire::TcpRepr::parse(
            &tcp,
            &ip.src_addr().into(),
            &ip.dst_addr().into(),
            &smoltcp::phy::ChecksumCapabilities::default(),
        )
        .unwrap();
        assert!(repr.timestamp.is_some(), "timestamps are on");
    }
}
