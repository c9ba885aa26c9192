//! The running gateway: binds listeners, the admin endpoint and the
//! tunnel endpoint, spawns one task per connection, applies reloads
//! (routes and tunnel clients swapped atomically, listeners added or
//! removed by bind address, open connections untouched) and shuts down
//! with a grace period. With `[acme]` it starts the ACME manager, whose
//! certificates serve `terminate_tls` routes and `[tunnels] acme = true`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use portico_config::GatewayConfig;
use portico_config::model::{Acme, Listener, UdpListener};
use portico_link::{FailureLimiter, LimiterSettings, LinkSettings};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::accept::{self, ConnectionLimits, ListenerContext};
use crate::acme::AcmeManager;
use crate::handshake::Users;
use crate::metrics::{Metrics, Outcome};
use crate::ops::{admin, status};
use crate::refuse::{Reason, Refusal, Refusals};
use crate::route::{RouteTable, State};
use crate::tunnel::{LinkServer, RegistryLimits, TunnelRegistry};
use crate::udp::{self, UdpContext, UdpDeps};

mod connection;
mod error;
mod shared;

use connection::handle;
pub use error::StartError;
pub use shared::GatewaySettings;
use shared::{AcmeSide, Shared, TlsSide};

/// After the grace period, how long closing the remaining connections may take.
pub const HARD_STOP_WAIT: Duration = Duration::from_secs(5);

/// A UDP listener's socket for `addr`.
fn bind_udp(addr: SocketAddr) -> Result<std::net::UdpSocket, StartError> {
    udp::bind(addr).map_err(|source| StartError::Bind { addr, source })
}

/// A listener that is accepting.
#[derive(Debug)]
struct RunningListener {
    context: Arc<ListenerContext>,
    stop: CancellationToken,
    local: SocketAddr,
}

/// A UDP listener that is receiving.
#[derive(Debug)]
struct RunningUdp {
    context: Arc<UdpContext>,
    stop: CancellationToken,
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    shared: Arc<Shared>,
    listeners: Mutex<HashMap<SocketAddr, RunningListener>>,
    udp_listeners: Mutex<HashMap<SocketAddr, RunningUdp>>,
    inherited: Mutex<Vec<std::net::TcpListener>>,
    accept_stop: CancellationToken,
    tracker: TaskTracker,
    shutdown_grace: Duration,
    admin_addr: Option<SocketAddr>,
    started: Instant,
    link: Option<LinkServer>,
    acme_config: Option<Acme>,
}

impl Gateway {
    /// Binds everything `config` names (using a matching socket from
    /// `inherited` instead of binding where one exists) and starts serving.
    pub async fn start(
        config: GatewayConfig,
        inherited: Vec<std::net::TcpListener>,
    ) -> Result<Arc<Gateway>, StartError> {
        Self::start_with(config, inherited, GatewaySettings::default()).await
    }

    /// [`Gateway::start`] with explicit [`GatewaySettings`]. With `[acme]`,
    /// the ACME manager serves the stored certificates at once and obtains
    /// or renews them in the background until shutdown.
    pub async fn start_with(
        config: GatewayConfig,
        inherited: Vec<std::net::TcpListener>,
        gateway_settings: GatewaySettings,
    ) -> Result<Arc<Gateway>, StartError> {
        let acme = AcmeSide::start(config.acme.as_ref(), &gateway_settings)?;
        let routes = RouteTable::build(
            &config.routes,
            acme.is_some() || !config.certificates.is_empty(),
        )?;
        let handshake_timeout = config
            .acme
            .as_ref()
            .map_or(Acme::DEFAULT_TLS_HANDSHAKE_TIMEOUT, |a| {
                a.tls_handshake_timeout
            });
        let tls = TlsSide::new(&config.certificates, acme.as_ref(), handshake_timeout)?;
        let metrics = Arc::new(Metrics::default());
        if let Some(acme) = &acme {
            metrics.set_acme(acme.manager.clone());
        }
        let tunnels = Arc::new(TunnelRegistry::new(
            &config.tunnel,
            RegistryLimits::default(),
            Arc::clone(&metrics),
        ));
        let login_failures = Arc::new(FailureLimiter::new(LimiterSettings {
            max_failures: config.limits.login_failures,
            window: config.limits.login_window,
            max_tracked: config.limits.login_sources_max,
        }));
        let shared = Arc::new(Shared {
            state: Arc::new(ArcSwap::from_pointee(State {
                routes,
                http01: config.http01.clone(),
                users: Users::new(
                    &config.users,
                    Arc::clone(&login_failures),
                    Arc::clone(&metrics),
                ),
            })),
            login_failures,
            metrics: Arc::clone(&metrics),
            limits: ConnectionLimits::new(
                config.limits.max_connections,
                config.limits.max_connections_per_ip,
            ),
            sniff_limits: config.limits.sniff_limits(),
            hard_stop: CancellationToken::new(),
            tunnels: Arc::clone(&tunnels),
            acme: acme.clone(),
            tls,
            refusals: Arc::new(Refusals::new(
                Arc::clone(&metrics),
                config.limits.refusal_log_rate,
            )),
        });
        let admin_listener = match &config.admin {
            Some(admin) => {
                let bound = tokio::net::TcpListener::bind(admin.bind)
                    .await
                    .map_err(|source| StartError::Bind {
                        addr: admin.bind,
                        source,
                    })?;
                Some(bound)
            }
            None => None,
        };
        let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
        let link = match &config.tunnels {
            Some(listen) => Some(LinkServer::start(
                listen,
                LinkSettings {
                    max_udp_payload: listen.link.max_udp_payload,
                    udp_receive_buffer: listen.link.udp_receive_buffer,
                    udp_send_buffer: listen.link.udp_send_buffer,
                    ..LinkSettings::default()
                },
                tunnels,
                acme.as_ref().map(AcmeSide::link_resolver),
            )?),
            None => None,
        };
        let gateway = Arc::new(Gateway {
            shared,
            listeners: Mutex::new(HashMap::new()),
            udp_listeners: Mutex::new(HashMap::new()),
            inherited: Mutex::new(inherited),
            accept_stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
            shutdown_grace: config.limits.shutdown_grace,
            admin_addr,
            started: Instant::now(),
            link,
            acme_config: config.acme.clone(),
        });
        let mut bound = Vec::new();
        for listener in &config.listeners {
            bound.push((listener.clone(), gateway.bind(listener.bind)?));
        }
        let mut bound_udp = Vec::new();
        for listener in &config.udp_listeners {
            let socket = bind_udp(listener.bind)?;
            bound_udp.push((listener.clone(), socket));
        }
        for (config, socket) in bound {
            gateway.spawn_listener(config, socket)?;
        }
        for (config, socket) in bound_udp {
            gateway.spawn_udp_listener(config, socket)?;
        }
        if let Some(acme) = &acme {
            // The manager stops with the listeners; an order in flight is
            // abandoned and the served certificates stay.
            let stop = gateway.accept_stop.clone();
            gateway.tracker.spawn(acme.manager.clone().run(stop));
        }
        if let Some(admin_listener) = admin_listener {
            let token = config
                .admin
                .as_ref()
                .and_then(|a| a.token.as_ref())
                .map(|t| portico_console::AdminToken::new(t.expose()));
            let weak = Arc::downgrade(&gateway);
            let stop = gateway.accept_stop.clone();
            gateway
                .tracker
                .spawn(admin::serve(admin_listener, weak, token, stop));
        }
        Ok(gateway)
    }

    /// A socket for `addr`: an inherited one bound there, or a new one.
    fn bind(&self, addr: SocketAddr) -> Result<std::net::TcpListener, StartError> {
        let mut inherited = self
            .inherited
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(pos) = inherited
            .iter()
            .position(|l| l.local_addr().ok() == Some(addr))
        {
            return Ok(inherited.swap_remove(pos));
        }
        drop(inherited);
        accept::bind_listener(addr).map_err(|source| StartError::Bind { addr, source })
    }

    fn spawn_listener(
        &self,
        config: Listener,
        socket: std::net::TcpListener,
    ) -> Result<(), StartError> {
        let addr = config.bind;
        let socket = tokio::net::TcpListener::from_std(socket)
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        // Every forwarded byte stream wants TCP_NODELAY (Nagle would only
        // delay the small writes a pipe passes on); accepted sockets inherit
        // it on Linux, which saves a system call per connection.
        if let Err(err) = socket2::SockRef::from(&socket).set_tcp_nodelay(true) {
            tracing::warn!(bind = %addr, error = %err, "cannot set TCP_NODELAY on the listener");
        }
        let name = addr.to_string();
        let context = Arc::new(ListenerContext {
            metrics: self.shared.metrics.listener(&name),
            name,
            settings: ArcSwap::from_pointee(config),
            bound: accept::normalise(local),
        });
        let stop = self.accept_stop.child_token();
        let shared = Arc::clone(&self.shared);
        let tracker = self.tracker.clone();
        let ctx = Arc::clone(&context);
        let loop_stop = stop.clone();
        self.tracker.spawn(async move {
            let metrics = Arc::clone(&shared.metrics);
            accept::accept_loop(socket, &ctx.name, &metrics, loop_stop, |stream, peer| {
                // A trusted balancer is capped in total only; the client its
                // PROXY header names takes the per-IP place.
                let trusted = ctx
                    .settings
                    .load()
                    .accept_proxy
                    .iter()
                    .any(|n| n.contains(&peer.ip()));
                let admitted = if trusted {
                    shared.limits.try_admit_total()
                } else {
                    shared.limits.try_admit(peer.ip())
                };
                match admitted {
                    Err(exceeded) => {
                        let refusal = Refusal {
                            client: peer,
                            protocol: None,
                            host: None,
                            reason: Reason::Limit(exceeded),
                            detail: "",
                        };
                        shared.refusals.record(&ctx, &refusal, Outcome::Limited);
                        drop(stream);
                    }
                    Ok(admission) => {
                        let span =
                            tracing::info_span!("conn", client = %peer, listener = %ctx.name);
                        let (ctx, shared) = (Arc::clone(&ctx), Arc::clone(&shared));
                        tracker
                            .spawn(handle(stream, peer, admission, ctx, shared).instrument(span));
                    }
                }
            })
            .await;
        });
        tracing::info!(bind = %addr, %local, "listening");
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.insert(
            addr,
            RunningListener {
                context,
                stop,
                local,
            },
        );
        Ok(())
    }

    fn spawn_udp_listener(
        &self,
        config: UdpListener,
        socket: std::net::UdpSocket,
    ) -> Result<(), StartError> {
        let addr = config.bind;
        let socket = tokio::net::UdpSocket::from_std(socket)
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let label = config.name.clone().unwrap_or_else(|| format!("udp:{addr}"));
        let context = Arc::new(UdpContext {
            metrics: self.shared.metrics.udp.listener(&label),
            label: label.clone(),
            settings: ArcSwap::from_pointee(config),
            local,
        });
        // Removing the listener (a reload) ends its flows at once; shutdown
        // stops new flows, and the grace period's end stops the rest.
        let stop = CancellationToken::new();
        let stop_all = stop.clone();
        let hard_stop = self.shared.hard_stop.clone();
        let deps = UdpDeps {
            state: Arc::clone(&self.shared.state),
            metrics: Arc::clone(&self.shared.metrics),
            refusals: Arc::clone(&self.shared.refusals),
            sniff_limits: self.shared.sniff_limits,
            stop_new: self.accept_stop.child_token(),
            stop_all: stop_all.clone(),
            tracker: self.tracker.clone(),
            tunnels: Arc::clone(&self.shared.tunnels),
        };
        let ctx = Arc::clone(&context);
        self.tracker.spawn(
            async move {
                tokio::select! {
                    () = udp::run(socket, ctx, deps) => {}
                    () = hard_stop.cancelled() => stop_all.cancel(),
                }
            }
            .instrument(tracing::info_span!("udp", listener = %label)),
        );
        tracing::info!(bind = %addr, %local, "listening (UDP)");
        self.udp_listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(addr, RunningUdp { context, stop });
        Ok(())
    }

    /// The local address of the UDP listener configured with `bind`.
    pub fn udp_local_addr(&self, bind: SocketAddr) -> Option<SocketAddr> {
        let listeners = self
            .udp_listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.get(&bind).map(|l| l.context.local)
    }

    /// The local address of the listener configured with `bind`.
    pub fn local_addr(&self, bind: SocketAddr) -> Option<SocketAddr> {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.get(&bind).map(|l| l.local)
    }

    /// The admin endpoint's local address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The UDP address tunnel clients connect to, when `[tunnels]` is set.
    pub fn tunnel_addr(&self) -> Option<SocketAddr> {
        self.link.as_ref().map(LinkServer::local_addr)
    }

    /// Configured tunnel clients and their live sessions.
    pub fn tunnels(&self) -> &TunnelRegistry {
        &self.shared.tunnels
    }

    /// The ACME manager, when `[acme]` is configured.
    pub fn acme(&self) -> Option<&AcmeManager> {
        self.shared.acme.as_ref().map(|a| &a.manager)
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Applies a new validated configuration: routes, HTTP-01 settings and
    /// the `[[certificate]]` pairs are swapped at once, listeners added or removed by bind address and
    /// kept ones take their new settings; the `[[tunnel]]` set is swapped
    /// (see [`TunnelRegistry::set_clients`]). On error nothing changes.
    /// `[limits]`, `[admin]`, `[tunnels]` and `[acme]` keep their values
    /// from start (a changed `[acme]` is logged: it needs a restart).
    pub fn apply(&self, config: GatewayConfig) -> Result<(), StartError> {
        let routes = RouteTable::build_after(
            &config.routes,
            self.shared.acme.is_some() || !config.certificates.is_empty(),
            Some(&self.shared.state.load().routes),
        )?;
        let mut new = Vec::new();
        {
            let listeners = self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for l in &config.listeners {
                if !listeners.contains_key(&l.bind) {
                    new.push(l.clone());
                }
            }
        }
        let mut bound = Vec::new();
        for l in new {
            let socket = self.bind(l.bind)?;
            bound.push((l, socket));
        }
        let mut bound_udp = Vec::new();
        {
            let running = self
                .udp_listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for l in &config.udp_listeners {
                if !running.contains_key(&l.bind) {
                    let socket = bind_udp(l.bind)?;
                    bound_udp.push((l.clone(), socket));
                }
            }
        }
        self.shared.state.store(Arc::new(State {
            routes,
            http01: config.http01.clone(),
            users: Users::new(
                &config.users,
                Arc::clone(&self.shared.login_failures),
                Arc::clone(&self.shared.metrics),
            ),
        }));
        self.shared.tunnels.set_clients(&config.tunnel);
        self.shared.tls.reload(&config.certificates);
        if config.acme != self.acme_config {
            tracing::warn!("[acme] changed; restart needed for the change to take effect");
        }
        match (&self.link, &config.tunnels) {
            (Some(link), new) => link.reload(new.as_ref()),
            (None, Some(_)) => {
                tracing::warn!("[tunnels] added; tunnel clients can connect after a restart")
            }
            (None, None) => {}
        }
        {
            let mut listeners = self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            listeners.retain(|bind, running| match config.listeners.iter().find(|l| l.bind == *bind) {
                Some(l) => {
                    running.context.settings.store(Arc::new(l.clone()));
                    true
                }
                None => {
                    tracing::info!(bind = %bind, "listener removed; its open connections go on");
                    running.stop.cancel();
                    false
                }
            });
        }
        self.udp_listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(
                |bind, running| match config.udp_listeners.iter().find(|l| l.bind == *bind) {
                    Some(l) => {
                        running.context.settings.store(Arc::new(l.clone()));
                        true
                    }
                    None => {
                        tracing::info!(bind = %bind, "UDP listener removed; its flows end");
                        running.stop.cancel();
                        false
                    }
                },
            );
        for (l, socket) in bound {
            self.spawn_listener(l, socket)?;
        }
        for (l, socket) in bound_udp {
            self.spawn_udp_listener(l, socket)?;
        }
        Ok(())
    }

    /// Stops accepting, waits up to the grace period for open connections,
    /// then closes the rest, then every tunnel session.
    pub async fn shutdown(&self) {
        self.accept_stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(self.shutdown_grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::info!(
                open = self.tracker.len(),
                "grace period over; closing open connections"
            );
            self.shared.hard_stop.cancel();
            let _ = tokio::time::timeout(HARD_STOP_WAIT, self.tracker.wait()).await;
        }
        if let Some(link) = &self.link {
            link.shutdown(&self.shared.tunnels).await;
        }
    }

    /// The `/status` document (without the history, which the admin
    /// endpoint keeps).
    pub fn status(&self) -> portico_console::Status {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut entries: Vec<portico_console::model::ListenerStatus> = listeners
            .values()
            .map(|l| portico_console::model::ListenerStatus {
                bind: l.context.name.clone(),
                transport: "tcp".to_owned(),
                protocols: l
                    .context
                    .settings
                    .load()
                    .protocols
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
                active: l.context.metrics.active(),
            })
            .collect();
        drop(listeners);
        let udp = self
            .udp_listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        entries.extend(udp.iter().map(|(bind, l)| {
            portico_console::model::ListenerStatus {
                bind: bind.to_string(),
                transport: "udp".to_owned(),
                protocols: l
                    .context
                    .settings
                    .load()
                    .protocols
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
                active: l.context.metrics.open(),
            }
        }));
        drop(udp);
        entries.sort_by(|a, b| (&a.bind, &a.transport).cmp(&(&b.bind, &b.transport)));
        let state = self.shared.state.load();
        status::build(status::Parts {
            uptime_seconds: self.started.elapsed().as_secs(),
            listeners: entries,
            routes: &state.routes,
            tunnels: self.shared.tunnels.status(),
            acme: self
                .shared
                .acme
                .as_ref()
                .map(|a| a.manager.certificates())
                .unwrap_or_default(),
            metrics: &self.shared.metrics,
        })
    }

    /// The `/status` document as JSON.
    pub fn status_json(&self) -> String {
        self.status().to_json()
    }
}
