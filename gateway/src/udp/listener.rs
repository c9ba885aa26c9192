//! One UDP listener's loop: receives every datagram, keeps the flow table
//! (one flow per client address and port), reads a new flow until its
//! protocol and name are known, routes it, and forwards its datagrams
//! unchanged; flows end after `flow_idle` without a datagram either way.
//!
//! The loop owns the table, so a datagram costs a hash lookup and a send,
//! with no lock. Making a backend socket (name resolution) runs in a task
//! of its own and reports back on a channel, so a slow name never stalls
//! other flows; the flow's datagrams are held meanwhile, up to a cap.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use portico_config::model::UdpListener;
use portico_sniff::quic::InitialReader;
use portico_sniff::{Hostname, Limits, Protocol};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::metrics::{Metrics, UdpDrop, UdpMetrics};
use crate::refuse::Refusals;
use crate::route::State;

use super::batch::{Batched, Received};
use super::decide::{self, Destination, Reading, Via};
use super::flows::{FlowLimit, FlowTable};
use super::tunnel;
use super::upstream::{self, Activity, MAX_DATAGRAM, ToClient, Upstream};
use crate::tunnel::TunnelRegistry;

/// Bytes a flow may hold while its QUIC hello is read or its backend
/// socket is made; datagrams past it are dropped (counted).
pub(crate) const HELD_BYTES_MAX: usize = 64 * 1024;

/// Runs received per wake-up of the loop before it looks at its other
/// work (events, the sweep).
const RECV_BURST: usize = 64;

/// How often idle flows are looked for, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What the loop needs from the running gateway.
pub(crate) struct UdpDeps {
    /// The routes and users of the moment (swapped by a reload).
    pub(crate) state: Arc<ArcSwap<State>>,
    /// All counters (refusals by reason live there).
    pub(crate) metrics: Arc<Metrics>,
    /// The refusal log and its rate cap.
    pub(crate) refusals: Arc<Refusals>,
    /// Detector limits (the QUIC hello's size and datagram count).
    pub(crate) sniff_limits: Limits,
    /// Stop taking new flows (shutdown began); open flows go on.
    pub(crate) stop_new: CancellationToken,
    /// End everything (the grace period is over, or the listener was removed).
    pub(crate) stop_all: CancellationToken,
    /// Where the backend-socket and reply tasks are tracked.
    pub(crate) tracker: TaskTracker,
    /// The tunnel clients, for routes with `tunnel`.
    pub(crate) tunnels: Arc<TunnelRegistry>,
}

/// A running UDP listener's shared parts.
#[derive(Debug)]
pub(crate) struct UdpContext {
    /// Its label in logs and metrics: the name, or the bind address.
    pub(crate) label: String,
    /// Its settings; a reload stores new ones.
    pub(crate) settings: ArcSwap<UdpListener>,
    /// Its counters.
    pub(crate) metrics: Arc<UdpMetrics>,
    /// The address it is bound to.
    pub(crate) local: SocketAddr,
}

/// Datagrams a flow holds before it can forward them.
#[derive(Debug, Default)]
struct Held {
    datagrams: Vec<Vec<u8>>,
    bytes: usize,
}

impl Held {
    /// Holds `datagram`, or says it is over the cap.
    fn push(&mut self, datagram: &[u8]) -> bool {
        if self.bytes + datagram.len() > HELD_BYTES_MAX {
            return false;
        }
        self.bytes += datagram.len();
        self.datagrams.push(datagram.to_vec());
        true
    }

    fn count(&self) -> u64 {
        self.datagrams.len() as u64
    }
}

/// Where a flow is.
enum FlowState {
    /// Reading the QUIC hello.
    Reading(Box<InitialReader>, Held),
    /// Routed; its backend socket is being made.
    Connecting(Held),
    /// Forwarding; the guard stops the reply (or link) task when the flow
    /// ends.
    Forwarding(Sink, #[allow(dead_code)] DropGuard),
    /// Dropped: its datagrams are dropped until it is idle.
    Blocked(UdpDrop),
}

/// Where a forwarding flow's datagrams go.
enum Sink {
    /// The flow's own socket to the backend.
    Socket(Arc<Upstream>),
    /// The queue of the task writing to the flow's link stream.
    Link(mpsc::Sender<Vec<u8>>),
}

impl Sink {
    /// Passes `datagram` on now, or says it could not.
    fn send(&self, datagram: &[u8]) -> bool {
        match self {
            Sink::Socket(up) => up.send(datagram, datagram.len()).is_ok(),
            Sink::Link(queue) => queue.try_send(datagram.to_vec()).is_ok(),
        }
    }
}

struct Flow {
    state: FlowState,
    opened: Instant,
    activity: Arc<Activity>,
    /// The way back to the client.
    to_client: Arc<ToClient>,
}

/// What a task making a flow's way to its backend reports.
enum Event {
    /// The backend socket is ready.
    Socket(SocketAddr, Upstream),
    /// The link stream is open.
    Link(SocketAddr, crate::tunnel::Opened),
    /// Neither could be made.
    Failed(SocketAddr),
}

/// Binds a UDP listener's socket: dual-stack for an unspecified IPv6 address.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(SockProtocol::UDP),
    )?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Runs the listener until `deps.stop_all`, or until shutdown began and
/// every flow has ended.
pub(crate) async fn run(socket: UdpSocket, ctx: Arc<UdpContext>, deps: UdpDeps) {
    let socket = Arc::new(socket);
    let batch = match Batched::new(&socket) {
        Ok(batch) => Arc::new(batch),
        Err(error) => {
            tracing::error!(listener = %ctx.label, %error, "cannot set up the UDP socket's options; the listener stops");
            return;
        }
    };
    let epoch = Instant::now();
    let settings = ctx.settings.load_full();
    let mut table: FlowTable<Flow> = FlowTable::new(settings.max_flows, settings.max_flows_per_ip);
    // One event per flow that is making its socket: bounded by the table.
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lp = Loop {
        socket: &socket,
        batch: &batch,
        ctx: &ctx,
        deps: &deps,
        epoch,
        events: events_tx,
    };
    loop {
        tokio::select! {
            biased;
            () = deps.stop_all.cancelled() => break,
            Some(event) = events.recv() => lp.on_event(&mut table, event),
            _ = sweep.tick() => {
                let settings = ctx.settings.load_full();
                table.set_limits(settings.max_flows, settings.max_flows_per_ip);
                lp.sweep(&mut table, &settings);
                if deps.stop_new.is_cancelled() && table.len() == 0 {
                    break;
                }
            }
            ready = socket.readable() => {
                if ready.is_err() {
                    continue;
                }
                for _ in 0..RECV_BURST {
                    match batch.try_recv(&socket, &mut buf) {
                        Ok(run) => lp.on_run(&mut table, run, &buf),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        // ICMP errors for earlier sends and the like: go on.
                        Err(_) => continue,
                    }
                }
            }
        }
    }
    ctx.metrics.set_open(0);
}

/// The loop's fixed parts.
struct Loop<'a> {
    socket: &'a Arc<UdpSocket>,
    batch: &'a Arc<Batched>,
    ctx: &'a Arc<UdpContext>,
    deps: &'a UdpDeps,
    epoch: Instant,
    events: mpsc::UnboundedSender<Event>,
}

impl Loop<'_> {
    /// A run of datagrams from one client: forwarded in one call to a
    /// flow's backend socket, else taken one datagram at a time.
    fn on_run(&mut self, table: &mut FlowTable<Flow>, run: Received, buf: &[u8]) {
        if let Some(flow) = table.get_mut(&run.from)
            && let FlowState::Forwarding(Sink::Socket(up), _) = &flow.state
        {
            flow.activity.touch(Instant::now());
            let contents = buf.get(..run.len).unwrap_or_default();
            match up.send(contents, run.stride) {
                Ok(()) => self.ctx.metrics.to_backend_run(run.count(), run.len),
                Err(_) => self.ctx.metrics.dropped(UdpDrop::SendFailed, run.count()),
            }
            return;
        }
        for datagram in run.datagrams(buf) {
            self.on_datagram(table, run.from, run.to_ip, datagram);
        }
    }

    fn on_datagram(
        &mut self,
        table: &mut FlowTable<Flow>,
        client: SocketAddr,
        to_ip: Option<std::net::IpAddr>,
        datagram: &[u8],
    ) {
        let now = Instant::now();
        let metrics = &self.ctx.metrics;
        if let Some(flow) = table.get_mut(&client) {
            flow.activity.touch(now);
            match &mut flow.state {
                FlowState::Forwarding(Sink::Socket(up), _) => {
                    match up.send(datagram, datagram.len()) {
                        Ok(()) => metrics.to_backend(datagram.len()),
                        Err(_) => metrics.dropped(UdpDrop::SendFailed, 1),
                    }
                }
                // Counted by the link task once written.
                FlowState::Forwarding(sink, _) => {
                    if !sink.send(datagram) {
                        metrics.dropped(UdpDrop::SendFailed, 1);
                    }
                }
                FlowState::Connecting(held) => {
                    if !held.push(datagram) {
                        metrics.dropped(UdpDrop::HeldOverCap, 1);
                    }
                }
                FlowState::Blocked(reason) => metrics.dropped(*reason, 1),
                FlowState::Reading(..) => self.read(table, client, datagram),
            }
            return;
        }
        if self.deps.stop_new.is_cancelled() {
            return;
        }
        let flow = Flow {
            state: FlowState::Reading(
                Box::new(InitialReader::new(&self.deps.sniff_limits)),
                Held::default(),
            ),
            opened: now,
            activity: Arc::new(Activity::new(self.epoch)),
            to_client: Arc::new(ToClient {
                socket: Arc::clone(self.socket),
                batch: Arc::clone(self.batch),
                client,
                from_ip: to_ip,
            }),
        };
        match table.insert(client, flow) {
            Ok(_) => {
                self.read(table, client, datagram);
                // The gauge follows new flows at once (the first datagram
                // may also have ended it), not only at the next sweep.
                metrics.set_open(table.len());
            }
            Err(limit) => {
                metrics.dropped(UdpDrop::FlowLimit, 1);
                let detail = match limit {
                    FlowLimit::Total => "max_flows",
                    FlowLimit::PerIp => "max_flows_per_ip",
                };
                self.log_drop(client, None, None, UdpDrop::FlowLimit, detail);
            }
        }
    }

    /// Feeds a datagram to a flow that is being read, and acts on the answer.
    fn read(&mut self, table: &mut FlowTable<Flow>, client: SocketAddr, datagram: &[u8]) {
        let protocols = self.ctx.settings.load().protocols;
        let Some(flow) = table.get_mut(&client) else {
            return;
        };
        let FlowState::Reading(reader, held) = &mut flow.state else {
            return;
        };
        if !held.push(datagram) {
            self.ctx.metrics.dropped(UdpDrop::HeldOverCap, 1);
            return;
        }
        match decide::read(protocols, reader, datagram) {
            Reading::Hold => {}
            Reading::Known(protocol, host) => {
                let held = std::mem::take(held);
                self.route(table, client, protocol, host, held);
            }
            Reading::Negotiate(answer) => {
                self.ctx.metrics.dropped(UdpDrop::UnknownVersion, 1);
                if let Some(answer) = answer {
                    let _ = upstream::send_to_now(self.socket, &answer, client);
                }
                table.remove(&client);
            }
            Reading::Drop(UdpDrop::NotQuic) => {
                // Stateless: keep no flow for traffic that is not ours.
                self.ctx.metrics.dropped(UdpDrop::NotQuic, 1);
                table.remove(&client);
            }
            Reading::Drop(reason) => {
                let dropped = held.count();
                self.block(flow, client, None, None, reason, dropped);
            }
        }
    }

    /// Routes a flow whose protocol and name are known.
    fn route(
        &mut self,
        table: &mut FlowTable<Flow>,
        client: SocketAddr,
        protocol: Protocol,
        host: Option<Hostname>,
        held: Held,
    ) {
        let settings = self.ctx.settings.load();
        let state = self.deps.state.load();
        let found = decide::route(
            &state.routes,
            settings.name.as_deref(),
            self.ctx.local,
            client,
            protocol,
            host.as_ref(),
        );
        let Some(flow) = table.get_mut(&client) else {
            return;
        };
        match found {
            Ok(destination) => {
                tracing::debug!(%client, listener = %self.ctx.label, route = %destination.route, "UDP flow routed");
                self.ctx.metrics.flow_routed(protocol);
                flow.state = FlowState::Connecting(held);
                self.spawn_open(client, destination, (protocol, host), settings.peek_timeout);
            }
            Err(reason) => {
                let dropped = held.count();
                self.block(flow, client, Some(protocol), host.as_ref(), reason, dropped);
            }
        }
    }

    /// Makes the flow's way to its backend — its own socket, or a stream
    /// on the tunnel's link — in a task of its own.
    fn spawn_open(
        &self,
        client: SocketAddr,
        destination: Destination,
        named: (Protocol, Option<Hostname>),
        timeout: Duration,
    ) {
        let events = self.events.clone();
        let label = self.ctx.label.clone();
        let reached = self.ctx.local;
        let tunnels = Arc::clone(&self.deps.tunnels);
        self.deps.tracker.spawn(async move {
            let opened = match &destination.via {
                Via::Backend {
                    backend,
                    default_port,
                } => upstream::open(backend, *default_port, timeout)
                    .await
                    .map(|upstream| Event::Socket(client, upstream))
                    .map_err(|e| e.to_string()),
                Via::Tunnel(name) => {
                    let open = tunnel::open(&tunnels, name, client, reached, named);
                    match tokio::time::timeout(timeout, open).await {
                        Ok(Ok(opened)) => Ok(Event::Link(client, opened)),
                        Ok(Err(detail)) => Err(detail),
                        Err(_) => Err(format!("tunnel {name}: no stream in time")),
                    }
                }
            };
            let event = opened.unwrap_or_else(|error| {
                tracing::info!(%client, listener = %label, route = %destination.route, %error, "UDP backend unreachable");
                Event::Failed(client)
            });
            let _ = events.send(event);
        });
    }

    fn on_event(&mut self, table: &mut FlowTable<Flow>, event: Event) {
        match event {
            Event::Socket(client, upstream) => {
                let Some(flow) = table.get_mut(&client) else {
                    return; // ended meanwhile
                };
                let FlowState::Connecting(held) = &mut flow.state else {
                    return;
                };
                let held = std::mem::take(held);
                let upstream = Arc::new(upstream);
                for datagram in &held.datagrams {
                    match upstream.send(datagram, datagram.len()) {
                        Ok(()) => self.ctx.metrics.to_backend(datagram.len()),
                        Err(_) => self.ctx.metrics.dropped(UdpDrop::SendFailed, 1),
                    }
                }
                let stop = self.deps.stop_all.child_token();
                self.deps.tracker.spawn(upstream::relay_replies(
                    Arc::clone(&upstream),
                    Arc::clone(&flow.to_client),
                    Arc::clone(&flow.activity),
                    Arc::clone(&self.ctx.metrics),
                    stop.clone(),
                ));
                flow.state = FlowState::Forwarding(Sink::Socket(upstream), stop.drop_guard());
            }
            Event::Link(client, opened) => {
                let Some(flow) = table.get_mut(&client) else {
                    return; // ended meanwhile: dropping the stream ends it
                };
                let FlowState::Connecting(held) = &mut flow.state else {
                    return;
                };
                let held = std::mem::take(held);
                let (queue, queued) = mpsc::channel(tunnel::QUEUE_DATAGRAMS);
                for datagram in held.datagrams {
                    if queue.try_send(datagram).is_err() {
                        self.ctx.metrics.dropped(UdpDrop::SendFailed, 1);
                    }
                }
                let stop = self.deps.stop_all.child_token();
                self.deps.tracker.spawn(tunnel::relay(
                    opened,
                    queued,
                    Arc::clone(&flow.to_client),
                    Arc::clone(&flow.activity),
                    Arc::clone(&self.ctx.metrics),
                    stop.clone(),
                ));
                flow.state = FlowState::Forwarding(Sink::Link(queue), stop.drop_guard());
            }
            Event::Failed(client) => {
                if let Some(flow) = table.get_mut(&client)
                    && let FlowState::Connecting(held) = &flow.state
                {
                    let dropped = held.count();
                    self.ctx
                        .metrics
                        .dropped(UdpDrop::BackendUnreachable, dropped);
                    flow.state = FlowState::Blocked(UdpDrop::BackendUnreachable);
                }
            }
        }
        self.ctx.metrics.set_open(table.len());
    }

    /// Ends idle flows, and flows still reading past `peek_timeout`. The
    /// datagrams a flow held and never forwarded are counted as dropped
    /// whichever limit ends it: a flow still reading may also be ended by
    /// `flow_idle` first (when it is the shorter, or in the same sweep).
    fn sweep(&mut self, table: &mut FlowTable<Flow>, settings: &UdpListener) {
        let now = Instant::now();
        let metrics = Arc::clone(&self.ctx.metrics);
        table.retain(|_, flow| {
            let idle = flow.activity.idle(now) > settings.flow_idle;
            match &flow.state {
                FlowState::Reading(_, held)
                    if idle
                        || now.saturating_duration_since(flow.opened) > settings.peek_timeout =>
                {
                    metrics.dropped(UdpDrop::PeekTimeout, held.count());
                    false
                }
                // Its backend socket was not ready within the flow's life.
                FlowState::Connecting(held) if idle => {
                    metrics.dropped(UdpDrop::BackendUnreachable, held.count());
                    false
                }
                _ => !idle,
            }
        });
        metrics.set_open(table.len());
    }

    /// Blocks a flow for `reason`: its held and later datagrams are dropped
    /// until it is idle; logged once.
    fn block(
        &self,
        flow: &mut Flow,
        client: SocketAddr,
        protocol: Option<Protocol>,
        host: Option<&Hostname>,
        reason: UdpDrop,
        dropped: u64,
    ) {
        self.ctx.metrics.dropped(reason, dropped);
        flow.state = FlowState::Blocked(reason);
        self.log_drop(client, protocol, host, reason, "");
    }

    /// Logs (under the refusal log cap) and counts a dropped flow as a
    /// refusal, like a refused TCP connection.
    fn log_drop(
        &self,
        client: SocketAddr,
        protocol: Option<Protocol>,
        host: Option<&Hostname>,
        reason: UdpDrop,
        detail: &str,
    ) {
        self.deps
            .metrics
            .count_refusal(&self.ctx.label, protocol, reason.as_str());
        if self.deps.refusals.may_log() {
            tracing::info!(
                %client,
                listener = %self.ctx.label,
                protocol = protocol.map_or("-", Protocol::as_str),
                name = host.map_or("-", Hostname::as_str),
                reason = reason.as_str(),
                detail,
                "UDP flow dropped"
            );
        }
    }
}
