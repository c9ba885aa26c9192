//! The reconnect loop: establish a session with the gateway, serve it until
//! it is lost, the configuration names another gateway or identity, or the
//! client stops; between attempts wait with capped exponential back-off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use portico_config::TunnelConfig;
use quinn::ConnectionError;
use tokio::sync::{Semaphore, watch};
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::attempt::{self, AttemptError, Identity};
use crate::backoff::{Backoff, jitter};
use crate::deliver::{Delivery, TunState};
use crate::exits::ExitList;
use crate::link::Link;
use crate::services::ServiceTable;
use crate::settings::ClientSettings;
use crate::status::ClientStatus;
use crate::tun::{TunDelivery, TunError, TunSettings};

/// Something that happened to the client, for a [`EventHook`].
#[derive(Debug)]
pub enum ClientEvent<'a> {
    /// A session was established.
    Connected {
        /// The gateway's id for the session.
        session_id: u64,
        /// The gateway address.
        gateway: SocketAddr,
    },
    /// An attempt failed; the next one follows after `retry_in`.
    AttemptFailed {
        /// Why.
        error: &'a AttemptError,
        /// The back-off delay before the next attempt.
        retry_in: Duration,
    },
    /// An established session was lost.
    SessionLost {
        /// The gateway's id for the session.
        session_id: u64,
        /// Why.
        error: &'a ConnectionError,
        /// How long it lived.
        lived: Duration,
    },
    /// A new configuration's services replaced the running ones.
    ServicesReplaced {
        /// How many services are configured now.
        services: usize,
    },
}

/// Called for every [`ClientEvent`], on the client's task: keep it short.
pub type EventHook = Arc<dyn Fn(&ClientEvent<'_>) + Send + Sync>;

/// How the client runs, beyond its configuration.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// The tunables.
    pub settings: ClientSettings,
    /// Observer of connects and failures (readiness, tests).
    pub events: Option<EventHook>,
    /// Where the client reports its session and streams (the `[admin]`
    /// endpoint reads it); `None`: nobody reads them.
    pub status: Option<Arc<ClientStatus>>,
}

/// Why the client could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// TUN delivery could not start.
    #[error("cannot start TUN delivery: {0}")]
    Tun(#[from] TunError),
}

/// Runs the client until `shutdown` is cancelled, then drains and closes
/// the session and shuts TUN delivery down (removing its routes).
///
/// Every new value in `configs` replaces the services at once; a changed
/// gateway, name, token or CA also replaces the session. A `[tun]` section
/// is read at start only.
pub async fn run_client_with(
    mut configs: watch::Receiver<Arc<TunnelConfig>>,
    options: ClientOptions,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let config = Arc::clone(&configs.borrow_and_update());
    tracing::info!(
        gateway = %config.gateway,
        name = %config.name,
        services = config.services.len(),
        tun = config.tun.is_some(),
        "tunnel client starting"
    );
    let tun = match &config.tun {
        Some(tun) => Some(Arc::new(TunState {
            delivery: TunDelivery::start(tun, TunSettings::default()).await?,
            config: tun.clone(),
        })),
        None => None,
    };
    let status = options.status.clone().unwrap_or_default();
    let permits = Arc::new(Semaphore::new(options.settings.max_streams));
    status.attach_permits(Arc::clone(&permits), options.settings.max_streams);
    let delivery = Delivery {
        status,
        settings: options.settings,
        services: Arc::new(ArcSwap::from_pointee(
            ServiceTable::new(config.services.clone())
                .with_exits(ExitList::new(config.exits.clone())),
        )),
        tun,
    };
    let mut client = Client {
        permits,
        delivery,
        options,
        drains: TaskTracker::new(),
        streams: TaskTracker::new(),
        configs_open: true,
    };
    client.reconnect_loop(&mut configs, &shutdown).await;
    client.drains.close();
    let settings = client.options.settings;
    let drains = settings
        .shutdown_grace
        .saturating_add(settings.close_timeout);
    let _ = timeout(drains, client.drains.wait()).await;
    // Streams of lost sessions end with their connection; wait for them so
    // TUN delivery is shut down with no connection left.
    client.streams.close();
    let _ = timeout(settings.close_timeout, client.streams.wait()).await;
    if let Some(tun) = client.delivery.tun.take() {
        match Arc::try_unwrap(tun) {
            Ok(tun) => match tun.delivery.shutdown().await {
                Ok(()) => tracing::info!("TUN delivery stopped; routes removed"),
                Err(err) => tracing::warn!(error = %err, "TUN delivery shutdown incomplete"),
            },
            Err(_) => tracing::warn!("connections still open; TUN routes left to the next start"),
        }
    }
    Ok(())
}

/// The state of the reconnect loop.
struct Client {
    /// What stream tasks share.
    delivery: Delivery,
    /// One per forwarded connection being delivered.
    permits: Arc<Semaphore>,
    /// Settings and hook.
    options: ClientOptions,
    /// Sessions being drained after a change of identity.
    drains: TaskTracker,
    /// Every stream task of every session.
    streams: TaskTracker,
    /// Whether `configs` can still change.
    configs_open: bool,
}

/// Why serving a session ended.
enum SessionEnd {
    /// The client is stopping.
    Shutdown,
    /// The configuration names another gateway or identity.
    Reconfigured,
    /// The connection was lost.
    Lost(ConnectionError),
}

/// What follows a served session.
enum Served {
    /// The client is stopping.
    Stop,
    /// A changed configuration replaced it: connect again at once.
    Replaced,
    /// It was lost after living this long.
    Lost {
        /// Since the session was established.
        lived: Duration,
    },
}

impl Client {
    /// Connects, serves, and reconnects until `shutdown`.
    async fn reconnect_loop(
        &mut self,
        configs: &mut watch::Receiver<Arc<TunnelConfig>>,
        shutdown: &CancellationToken,
    ) {
        let settings = self.options.settings;
        let mut backoff = Backoff::new(settings.backoff);
        let mut attempt: usize = 0;
        loop {
            // A reload that came in during the last attempt is installed now.
            let identity = match configs.has_changed() {
                Ok(true) => self.install(configs),
                _ => Identity::of(&configs.borrow()),
            };
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                connected = attempt::connect(&identity, &settings, attempt) => connected,
            };
            attempt = attempt.wrapping_add(1);
            let delay = match connected {
                Ok(link) => match self.serve(link, &identity, configs, shutdown).await {
                    Served::Stop => return,
                    Served::Replaced => {
                        backoff.reset();
                        Duration::ZERO
                    }
                    Served::Lost { lived } => {
                        if lived > settings.backoff.stable_after {
                            backoff.reset();
                        }
                        backoff.next_delay(jitter())
                    }
                },
                Err(error) => {
                    let retry_in = backoff.next_delay(jitter());
                    self.attempt_failed(&error, &identity, retry_in);
                    retry_in
                }
            };
            if !self.wait(delay, &identity, configs, shutdown).await {
                return;
            }
        }
    }

    /// Serves an established session until it ends.
    async fn serve(
        &mut self,
        link: Link,
        identity: &Identity,
        configs: &mut watch::Receiver<Arc<TunnelConfig>>,
        shutdown: &CancellationToken,
    ) -> Served {
        let session_id = link.session.id;
        tracing::info!(session = session_id, gateway = %link.gateway, "session established");
        self.delivery
            .status
            .session_up(link.gateway, link.session.connection.clone());
        self.emit(&ClientEvent::Connected {
            session_id,
            gateway: link.gateway,
        });
        let end = loop {
            tokio::select! {
                () = shutdown.cancelled() => break SessionEnd::Shutdown,
                changed = configs.changed(), if self.configs_open => {
                    if changed.is_err() {
                        self.configs_open = false;
                    } else if self.install(configs) != *identity {
                        break SessionEnd::Reconfigured;
                    }
                }
                error = link.serve(&self.delivery, &self.permits, &self.streams) => break SessionEnd::Lost(error),
            }
        };
        let settings = self.options.settings;
        self.delivery.status.session_down();
        match end {
            SessionEnd::Shutdown => {
                tracing::info!(session = session_id, "stopping: draining the session");
                link.drain(settings).await;
                Served::Stop
            }
            SessionEnd::Reconfigured => {
                tracing::info!(session = session_id, "link settings changed: reconnecting");
                self.drains.spawn(link.drain(settings));
                Served::Replaced
            }
            SessionEnd::Lost(error) => {
                let lived = link.started.elapsed();
                tracing::warn!(session = session_id, %error, ?lived, "session lost");
                self.emit(&ClientEvent::SessionLost {
                    session_id,
                    error: &error,
                    lived,
                });
                Served::Lost { lived }
            }
        }
    }

    /// Waits `delay` before the next attempt; a change of identity cuts it
    /// short. Returns false on shutdown.
    async fn wait(
        &mut self,
        delay: Duration,
        identity: &Identity,
        configs: &mut watch::Receiver<Arc<TunnelConfig>>,
        shutdown: &CancellationToken,
    ) -> bool {
        if delay.is_zero() {
            return !shutdown.is_cancelled();
        }
        let pause = sleep(delay);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = &mut pause => return true,
                changed = configs.changed(), if self.configs_open => {
                    if changed.is_err() {
                        self.configs_open = false;
                    } else if self.install(configs) != *identity {
                        return true;
                    }
                }
            }
        }
    }

    /// Installs the latest configuration's services; returns its identity.
    fn install(&self, configs: &mut watch::Receiver<Arc<TunnelConfig>>) -> Identity {
        let config = Arc::clone(&configs.borrow_and_update());
        let table = ServiceTable::new(config.services.clone())
            .with_exits(ExitList::new(config.exits.clone()));
        let services = table.len();
        tracing::info!(services, "services replaced");
        self.delivery.services.store(Arc::new(table));
        self.emit(&ClientEvent::ServicesReplaced { services });
        Identity::of(&config)
    }

    /// Logs a failed attempt once, at error level for a refusal or a
    /// certificate not accepted (with what to do, from the `ca` or
    /// `gateway_fingerprint` of `identity`).
    fn attempt_failed(&self, error: &AttemptError, identity: &Identity, retry_in: Duration) {
        match error.refusal() {
            Some(reason) => {
                tracing::error!(%reason, ?retry_in, "the gateway refused the session: {error}")
            }
            None if error.certificate_rejected() => tracing::error!(
                ?retry_in,
                "the gateway's certificate is not accepted: {error}; {}",
                attempt::certificate_advice(identity.ca.as_deref(), identity.fingerprint.as_ref())
            ),
            None => tracing::warn!(?retry_in, "cannot reach the gateway: {error}"),
        }
        self.emit(&ClientEvent::AttemptFailed { error, retry_in });
    }

    /// Calls the event hook, if any.
    fn emit(&self, event: &ClientEvent<'_>) {
        if let Some(hook) = &self.options.events {
            hook(event);
        }
    }
}
