//! The QUIC side of `[tunnels]`: the endpoint, the accept loop that turns
//! incoming connections into registered sessions (or logged, counted
//! refusals), one watcher per session that forgets it when it closes, and
//! the close of every session at shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_config::model::{LinkCert, TunnelsListen};
use portico_link::{
    AcceptError, EndpointError, FailureLimiter, LimiterSettings, LinkSettings, accept_connection,
    accept_session, codes, load_cert_chain, load_private_key, server_config,
    server_config_with_resolver, server_endpoint, server_endpoint_with_config,
};
use quinn::{Endpoint, Incoming};
use rustls::server::ResolvesServerCert;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::probe;
use super::registry::TunnelRegistry;
use crate::metrics::{SESSION_LIMIT, refusal_label};

/// Connections in the QUIC or session handshake at once; more are refused
/// before any cryptography is done.
pub const MAX_PENDING_HANDSHAKES: usize = 256;
/// At shutdown, how long the endpoint may take to deliver the close of
/// every session.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Why the tunnel endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TunnelStartError {
    /// `acme = true` but the gateway runs no ACME manager.
    #[error("[tunnels] acme = true needs the [acme] section's certificates")]
    AcmeCert,
    /// The certificate, key or UDP socket could not be set up.
    #[error("[tunnels]: {0}")]
    Endpoint(#[from] EndpointError),
    /// The generated link certificate could not be made or read.
    #[error("[tunnels]: {0}")]
    Identity(#[from] super::identity::IdentityError),
}

/// The running tunnel endpoint.
#[derive(Debug)]
pub struct LinkServer {
    endpoint: Endpoint,
    config: TunnelsListen,
    settings: LinkSettings,
    local: SocketAddr,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl LinkServer {
    /// Binds the endpoint `config` names and starts accepting sessions into
    /// `registry`. With `acme = true` the certificate comes from `acme` (the
    /// ACME manager's resolver), picked per handshake, so a renewal serves
    /// the next session at once.
    pub fn start(
        config: &TunnelsListen,
        settings: LinkSettings,
        registry: Arc<TunnelRegistry>,
        acme: Option<Arc<dyn ResolvesServerCert>>,
    ) -> Result<LinkServer, TunnelStartError> {
        let endpoint = match &config.cert {
            LinkCert::Acme => {
                let resolver = acme.ok_or(TunnelStartError::AcmeCert)?;
                let server = server_config_with_resolver(resolver, &settings)?;
                server_endpoint_with_config(config.bind, server, &settings)?
            }
            LinkCert::Files { cert, key } => {
                let (cert, key) = (load_cert_chain(cert)?, load_private_key(key)?);
                server_endpoint(config.bind, cert, key, &settings)?
            }
            LinkCert::Generated { storage } => {
                let identity = super::identity::load_or_create(storage)?;
                tracing::info!(
                    cert = %identity.cert_path.display(),
                    fingerprint = %identity.fingerprint,
                    "tunnel link certificate (self-signed; clients pin it by gateway_fingerprint)"
                );
                server_endpoint(config.bind, vec![identity.cert], identity.key, &settings)?
            }
        };
        let local = endpoint
            .local_addr()
            .map_err(|source| EndpointError::Bind {
                addr: config.bind,
                source,
            })?;
        let server = LinkServer {
            endpoint: endpoint.clone(),
            config: config.clone(),
            settings,
            local,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let accept = AcceptLoop {
            endpoint,
            settings,
            registry,
            limiter: Arc::new(FailureLimiter::new(LimiterSettings::default())),
            stop: server.stop.clone(),
            tasks: server.tasks.clone(),
        };
        server.tasks.spawn(accept.run());
        tracing::info!(bind = %config.bind, %local, "accepting tunnel sessions");
        Ok(server)
    }

    /// The UDP address the endpoint is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Applies a reload: the certificate files are read again (a renewed
    /// certificate serves new sessions, live ones stay); a changed bind
    /// address or certificate source is only logged, as it takes a restart.
    /// A certificate that cannot be loaded is logged and the old one kept.
    pub fn reload(&self, new: Option<&TunnelsListen>) {
        let unchanged =
            new.is_some_and(|new| new.bind == self.config.bind && new.cert == self.config.cert);
        if !unchanged {
            tracing::warn!(
                bind = %self.config.bind,
                "[tunnels] changed; the change takes effect after a restart"
            );
            return;
        }
        let LinkCert::Files { cert, key } = &self.config.cert else {
            return;
        };
        let loaded = load_cert_chain(cert).and_then(|chain| {
            let key = load_private_key(key)?;
            server_config(chain, key, &self.settings)
        });
        match loaded {
            Ok(server) => {
                self.endpoint.set_server_config(Some(server));
                tracing::info!(cert = %cert.display(), "tunnel link certificate reloaded");
            }
            Err(err) => tracing::error!(
                error = %err,
                "tunnel link certificate not reloaded; keeping the running one"
            ),
        }
    }

    /// Closes every session with [`codes::CLOSE_NORMAL`], stops accepting
    /// and waits up to [`CLOSE_WAIT`] for the closes to be delivered.
    pub async fn shutdown(&self, registry: &TunnelRegistry) {
        self.stop.cancel();
        registry.close_all(codes::CLOSE_NORMAL);
        self.endpoint
            .close(codes::varint(codes::CLOSE_NORMAL), b"gateway stopping");
        self.tasks.close();
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            self.tasks.wait().await;
            self.endpoint.wait_idle().await;
        })
        .await;
    }
}

impl Drop for LinkServer {
    /// A server dropped without [`LinkServer::shutdown`] (a start that
    /// failed later on) stops accepting and releases its socket.
    fn drop(&mut self) {
        self.stop.cancel();
        self.endpoint
            .close(codes::varint(codes::CLOSE_NORMAL), b"gateway stopping");
    }
}

/// Everything the accept loop and its per-connection tasks share.
#[derive(Debug, Clone)]
struct AcceptLoop {
    endpoint: Endpoint,
    settings: LinkSettings,
    registry: Arc<TunnelRegistry>,
    limiter: Arc<FailureLimiter>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl AcceptLoop {
    async fn run(self) {
        let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
        loop {
            let incoming = tokio::select! {
                incoming = self.endpoint.accept() => incoming,
                () = self.stop.cancelled() => return,
            };
            let Some(incoming) = incoming else { return };
            let remote = incoming.remote_address();
            let Ok(permit) = Arc::clone(&pending).try_acquire_owned() else {
                tracing::warn!(%remote, "too many tunnel handshakes in progress; refused");
                incoming.refuse();
                continue;
            };
            let this = self.clone();
            let span = tracing::info_span!("tunnel", %remote);
            self.tasks.spawn(
                async move {
                    this.serve(incoming, remote, permit).await;
                }
                .instrument(span),
            );
        }
    }

    /// One connection: handshake, registration, then wait for its end.
    async fn serve(
        &self,
        incoming: Incoming,
        remote: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let handshake = async {
            let conn = accept_connection(incoming, &self.settings).await?;
            accept_session(conn, &self.settings, &self.limiter, |name, token| {
                self.registry.authenticate(name, token)
            })
            .await
        };
        let accepted = tokio::select! {
            accepted = handshake => accepted,
            () = self.stop.cancelled() => return,
        };
        drop(permit);
        let session = match accepted {
            Ok(session) => session,
            Err(AcceptError::Refused { name, reason }) => {
                let name = name.as_deref().unwrap_or("-");
                tracing::warn!(%remote, name, reason = refusal_label(reason), "tunnel session refused");
                self.registry
                    .metrics()
                    .tunnels
                    .count_refusal(refusal_label(reason));
                return;
            }
            Err(err) => {
                tracing::info!(%remote, error = %err, "tunnel handshake failed");
                return;
            }
        };
        let name = session.name.clone();
        let connection = session.connection.clone();
        let live = match self.registry.register(session, remote) {
            Ok(live) => live,
            Err(err) => {
                tracing::warn!(%remote, name, reason = SESSION_LIMIT, error = %err, "tunnel session refused");
                self.registry.metrics().tunnels.count_refusal(SESSION_LIMIT);
                connection.close(codes::varint(codes::CLOSE_SESSION_LIMIT), b"");
                return;
            }
        };
        tracing::info!(%remote, name, id = live.session.id, "tunnel session up");
        // A client that restarts after dying leaves its old session behind:
        // check the others of the name (registering made them suspect).
        for other in self.registry.others(&live) {
            let registry = Arc::clone(&self.registry);
            self.tasks.spawn(async move {
                probe::check(&registry, &other, true).await;
            });
        }
        let why = tokio::select! {
            why = connection.closed() => why.to_string(),
            () = self.stop.cancelled() => "gateway stopping".to_owned(),
        };
        self.registry.remove(&live);
        tracing::info!(%remote, name, id = live.session.id, reason = why, "tunnel session down");
    }
}
