//! TUN delivery (`source = "original"`): connections reach local services
//! from the original client address and port.
//!
//! A TUN device carries a userspace TCP/IP stack (`stack`, smoltcp in
//! `any_ip` mode). For each forwarded connection the stack opens a TCP
//! connection (`stream`; for a UDP flow, a UDP socket: `datagrams`) *from*
//! the client's address to the service address, which lives on `lo`; the kernel delivers it to the service, whose `accept()`
//! sees the client. The service's replies find their way back into the TUN
//! through per-peer routes (`peers`) that `netlink` installs, tagged with
//! [`ROUTE_PROTOCOL_TAG`] so that a crash leaves nothing the sweep at the
//! next [`TunDelivery::start`] cannot find.
//!
//! Known limit: a service bound only to 127.0.0.1 cannot be reached this
//! way; the kernel drops packets for loopback destinations that arrive on
//! a TUN (unless `route_localnet=1`). Bind services to the `[tun]`
//! addresses (or to all addresses).

mod datagrams;
mod device;
mod error;
mod netlink;
mod peers;
mod settings;
mod stack;
mod stream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use portico_config::model::{RouteMode, Tun};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

pub use datagrams::TunDatagrams;
pub use error::TunError;
pub use netlink::{ROUTE_PROTOCOL_TAG, RULE_PRIORITY};
pub use settings::TunSettings;
pub use stream::TunStream;

use netlink::{MAIN_TABLE, Netlink, Swept};
use peers::{PeerLease, PeerRoutes};
use stack::{Handshake, Stack};

/// A running TUN delivery: the device, the stack task and the routes.
pub struct TunDelivery {
    netlink: Arc<Netlink>,
    stack: Arc<Stack>,
    task: JoinHandle<Result<(), TunError>>,
    peers: PeerRoutes,
    connections: Arc<Semaphore>,
    settings: TunSettings,
    /// Table of the per-peer routes (`cfg.table`, or main).
    table: u32,
    /// Whether policy rules were installed.
    policy: bool,
    lo_index: u32,
    /// Service addresses this instance added to `lo` (removed on shutdown).
    added_addresses: Vec<IpAddr>,
}

/// Without [`TunDelivery::shutdown`], dropping stops the stack task, which
/// closes the device; the kernel then drops the per-peer routes through it,
/// while the policy rules and added addresses stay until the next
/// [`TunDelivery::start`] sweeps (rules) or reuses (addresses) them.
impl Drop for TunDelivery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for TunDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDelivery")
            .field("table", &self.table)
            .field("policy", &self.policy)
            .field("added_addresses", &self.added_addresses)
            .finish_non_exhaustive()
    }
}

/// What `start` has set up so far, undone if a later step fails.
struct Setup {
    lo_index: u32,
    added_addresses: Vec<IpAddr>,
    rules_table: Option<u32>,
}

impl Setup {
    async fn undo(&self, netlink: &Netlink) {
        if let Some(table) = self.rules_table
            && let Err(error) = netlink.del_rules(table).await
        {
            tracing::warn!(%error, "cannot remove policy rules");
        }
        for ip in &self.added_addresses {
            if let Err(error) = netlink.del_address(self.lo_index, *ip).await {
                tracing::warn!(%ip, %error, "cannot remove service address");
            }
        }
    }
}

fn service_addresses(cfg: &Tun) -> Vec<IpAddr> {
    let v4 = cfg.address.map(IpAddr::V4);
    let v6 = cfg.address6.map(IpAddr::V6);
    v4.into_iter().chain(v6).collect()
}

impl TunDelivery {
    /// Sweeps leftovers of an earlier run, creates and raises the TUN
    /// device, puts the service addresses on `lo` (if missing), installs the
    /// policy rules (with [`RouteMode::Policy`]) and starts the stack task.
    pub async fn start(cfg: &Tun, settings: TunSettings) -> Result<TunDelivery, TunError> {
        let addresses = service_addresses(cfg);
        if addresses.is_empty() {
            return Err(TunError::NoAddress);
        }
        let netlink = Arc::new(Netlink::open()?);
        let swept = netlink.sweep(cfg.table).await?;
        if swept != Swept::default() {
            tracing::info!(
                routes = swept.routes,
                rules = swept.rules,
                "removed stale TUN routes and rules"
            );
        }
        let lo_index = netlink.link_index("lo").await?;
        let mut setup = Setup {
            lo_index,
            added_addresses: Vec::new(),
            rules_table: None,
        };
        match Self::start_inner(cfg, &settings, &netlink, &addresses, &mut setup).await {
            Ok((tun, ifindex)) => {
                let table = match cfg.routes {
                    RouteMode::Policy => cfg.table,
                    RouteMode::Main => MAIN_TABLE,
                };
                let stack = Stack::new(settings.clone())?;
                let task = tokio::spawn(Arc::clone(&stack).run(tun));
                let peers =
                    PeerRoutes::new(Arc::clone(&netlink), ifindex, table, settings.route_linger);
                Ok(TunDelivery {
                    netlink,
                    stack,
                    task,
                    peers,
                    connections: Arc::new(Semaphore::new(settings.max_connections)),
                    settings,
                    table,
                    policy: setup.rules_table.is_some(),
                    lo_index,
                    added_addresses: setup.added_addresses,
                })
            }
            Err(error) => {
                setup.undo(&netlink).await;
                Err(error)
            }
        }
    }

    async fn start_inner(
        cfg: &Tun,
        settings: &TunSettings,
        netlink: &Netlink,
        addresses: &[IpAddr],
        setup: &mut Setup,
    ) -> Result<(tun_rs::AsyncDevice, u32), TunError> {
        let device_error = |source| TunError::Device {
            device: cfg.device.clone(),
            source,
        };
        let tun = tun_rs::DeviceBuilder::new()
            .name(&cfg.device)
            .mtu(settings.mtu)
            .tx_queue_len(settings.txqueuelen)
            .packet_information(false)
            .enable(true)
            .build_async()
            .map_err(device_error)?;
        let ifindex = tun.if_index().map_err(device_error)?;
        for ip in addresses {
            if !netlink.has_address(setup.lo_index, *ip).await? {
                netlink.add_address(setup.lo_index, *ip).await?;
                setup.added_addresses.push(*ip);
            }
        }
        if cfg.routes == RouteMode::Policy {
            setup.rules_table = Some(cfg.table);
            for ip in addresses {
                netlink.add_rule(*ip, cfg.table).await?;
            }
        }
        Ok((tun, ifindex))
    }

    /// What a connection or flow from `client` to `service` needs first:
    /// matching address families, a running stack, a slot of
    /// `max_connections` and the client's route lease. Returns the client
    /// address with IPv4-mapped addresses as IPv4.
    async fn admit(
        &self,
        client: SocketAddr,
        service: SocketAddr,
    ) -> Result<(SocketAddr, OwnedSemaphorePermit, PeerLease), TunError> {
        let client = SocketAddr::new(client.ip().to_canonical(), client.port());
        if client.is_ipv4() != service.is_ipv4() {
            return Err(TunError::FamilyMismatch { client, service });
        }
        if self.task.is_finished() {
            return Err(TunError::Stopped);
        }
        let permit = Arc::clone(&self.connections)
            .try_acquire_owned()
            .map_err(|_| TunError::TooManyConnections {
                max: self.settings.max_connections,
            })?;
        let lease = self.peers.acquire(client.ip()).await?;
        Ok((client, permit, lease))
    }

    /// Opens a TCP connection from `client` to `service` (a `[tun]` address
    /// and port) through the userspace stack; the service's `accept()`
    /// returns `client`. Fails with [`TunError::Refused`] when nothing
    /// listens and [`TunError::ConnectTimeout`] after `connect_timeout`
    /// without an answer.
    ///
    /// Cancel safe: dropping the future gives back the connection slot and
    /// the client's route lease, and aborts the attempt.
    pub async fn connect(
        &self,
        client: SocketAddr,
        service: SocketAddr,
    ) -> Result<TunStream, TunError> {
        let (client, permit, lease) = self.admit(client, service).await?;
        let handle = self.stack.open(client, service)?;
        let stream = TunStream::new(Arc::clone(&self.stack), handle, lease, permit);
        let handshake = std::future::poll_fn(|cx| self.stack.poll_handshake(stream.handle(), cx));
        match tokio::time::timeout(self.settings.connect_timeout, handshake).await {
            Ok(Handshake::Open) => Ok(stream),
            Ok(Handshake::Refused) => Err(TunError::Refused { service }),
            Err(_) => Err(TunError::ConnectTimeout {
                service,
                timeout: self.settings.connect_timeout,
            }),
        }
    }

    /// Opens a UDP flow from `client` to `service` (a `[tun]` address and
    /// port) through the userspace stack: the service's `recvfrom()` sees
    /// `client`, and its replies to `client` come back through the TUN. A
    /// flow takes a slot of `max_connections` like a connection.
    pub async fn open_udp(
        &self,
        client: SocketAddr,
        service: SocketAddr,
    ) -> Result<TunDatagrams, TunError> {
        let (client, permit, lease) = self.admit(client, service).await?;
        let handle = self.stack.open_udp(client)?;
        Ok(TunDatagrams::new(
            Arc::clone(&self.stack),
            handle,
            service,
            lease,
            permit,
        ))
    }

    /// Connections currently holding a slot of `max_connections`.
    pub fn open_connections(&self) -> usize {
        self.settings
            .max_connections
            .saturating_sub(self.connections.available_permits())
    }

    /// Stops the stack and removes every route and rule this instance
    /// added, and the service addresses it put on `lo`. Open streams fail
    /// from then on.
    pub async fn shutdown(mut self) -> Result<(), TunError> {
        // Routes first: they go with the device when the task drops it.
        let mut first_error = self.peers.remove_all().await.err();
        self.task.abort();
        if self.policy
            && let Err(e) = self.netlink.del_rules(self.table).await
        {
            first_error.get_or_insert(e);
        }
        for ip in &self.added_addresses {
            if let Err(e) = self.netlink.del_address(self.lo_index, *ip).await {
                first_error.get_or_insert(e);
            }
        }
        // Whatever a lingering release raced in: the tag finds it.
        if let Err(e) = self.netlink.sweep(self.table).await {
            first_error.get_or_insert(e);
        }
        // Aborted: the result only says so.
        let _ = (&mut self.task).await;
        tracing::debug!(sockets = self.stack.socket_count(), "TUN delivery stopped");
        first_error.map_or(Ok(()), Err)
    }
}
