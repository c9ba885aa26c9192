//! The tunnel client as a service: run until SIGTERM or SIGINT, re-read the
//! configuration on SIGHUP, tell systemd when the first session is up,
//! serve the optional `[admin]` endpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use portico_config::TunnelConfig;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientEvent, ClientOptions, RunError, run_client_with};
use crate::settings::ClientSettings;
use crate::status::ClientStatus;

/// Why the tunnel client stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The client could not run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The `[admin]` address could not be bound.
    #[error("cannot bind the admin endpoint on {addr}: {source}")]
    AdminBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Sends `state` when `NOTIFY_SOCKET` is set; failures are logged.
fn notify(state: NotifyState<'_>) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(err) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}

/// Re-reads `path`; a valid configuration is handed to the client, an
/// invalid one is logged and the running one kept.
fn reload(path: &Path, running: &watch::Sender<Arc<TunnelConfig>>) {
    let config = match portico_config::load_tunnel(path) {
        Ok(config) => config,
        Err(diagnostics) => {
            for d in &diagnostics.0 {
                tracing::error!(
                    file = %d.file.display(), line = d.line, column = d.column,
                    "reload rejected: {}", d.message
                );
            }
            tracing::error!("reload rejected; keeping the running configuration");
            return;
        }
    };
    if !same_tun(running.borrow().as_ref(), &config) {
        tracing::warn!("[tun] changes take effect at the next start");
    }
    tracing::info!(path = %path.display(), "configuration reloaded");
    running.send_replace(Arc::new(config));
}

/// Whether two configurations have the same `[tun]` section.
fn same_tun(a: &TunnelConfig, b: &TunnelConfig) -> bool {
    match (&a.tun, &b.tun) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.device == b.device
                && a.address == b.address
                && a.address6 == b.address6
                && a.routes == b.routes
                && a.table == b.table
        }
        _ => false,
    }
}

/// Runs the client from `config` (loaded from `path`) until SIGTERM or
/// SIGINT; SIGHUP re-reads `path`. Sends READY=1 to systemd once the first
/// session is up.
pub async fn run(config: TunnelConfig, path: PathBuf) -> Result<(), DaemonError> {
    let mut hangup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    // The link's datagram size and socket buffers are read once: a reload
    // that changes them takes effect at the next start.
    let mut settings = ClientSettings::default();
    settings.link.max_udp_payload = config.link.max_udp_payload;
    settings.link.udp_receive_buffer = config.link.udp_receive_buffer;
    settings.link.udp_send_buffer = config.link.udp_send_buffer;
    let admin = config.admin.clone();
    let (running, configs) = watch::channel(Arc::new(config));
    let shutdown = CancellationToken::new();
    let status = Arc::new(ClientStatus::default());
    // `[admin]` is read at start only, like `[tun]`.
    if let Some(admin) = admin {
        let listener = tokio::net::TcpListener::bind(admin.bind)
            .await
            .map_err(|source| DaemonError::AdminBind {
                addr: admin.bind,
                source,
            })?;
        let token = admin
            .token
            .as_ref()
            .map(|t| portico_console::AdminToken::new(t.expose()));
        tokio::spawn(crate::admin::serve(
            listener,
            Arc::clone(&status),
            configs.clone(),
            token,
            shutdown.clone(),
        ));
    }
    let ready = AtomicBool::new(false);
    let options = ClientOptions {
        status: Some(status),
        settings,
        events: Some(Arc::new(move |event: &ClientEvent<'_>| {
            if matches!(event, ClientEvent::Connected { .. })
                && !ready.swap(true, Ordering::Relaxed)
            {
                notify(NotifyState::Ready);
            }
        })),
    };
    let client = run_client_with(configs, options, shutdown.clone());
    tokio::pin!(client);
    loop {
        tokio::select! {
            result = &mut client => return Ok(result?),
            _ = hangup.recv() => reload(&path, &running),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping");
    notify(NotifyState::Stopping);
    shutdown.cancel();
    client.await?;
    tracing::info!("stopped");
    Ok(())
}
