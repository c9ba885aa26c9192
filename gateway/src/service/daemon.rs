//! The gateway as a service: start, tell systemd, reload on SIGHUP, drain
//! and exit on SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portico_config::GatewayConfig;
use tokio::signal::unix::{SignalKind, signal};

use super::systemd;
use crate::server::{Gateway, StartError};

/// Why the gateway stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Re-reads `path` and applies it; on any error the running configuration
/// stays and every problem is logged.
fn reload(gateway: &Gateway, path: &Path) {
    systemd::reloading();
    match portico_config::load_gateway_checked(path) {
        Err(diagnostics) => {
            for d in &diagnostics.0 {
                tracing::error!(
                    file = %d.file.display(), line = d.line, column = d.column,
                    "reload rejected: {}", d.message
                );
            }
            tracing::error!(
                errors = diagnostics.0.len(),
                "reload rejected; keeping the running configuration"
            );
        }
        Ok(checked) => match gateway.apply(log_config_warnings(checked)) {
            Ok(()) => tracing::info!(path = %path.display(), "configuration reloaded"),
            Err(err) => {
                tracing::error!(error = %err, "reload rejected; keeping the running configuration")
            }
        },
    }
    systemd::ready();
}

/// Logs each warning about a configuration file that loaded, with its
/// place in the file; returns the configuration.
pub fn log_config_warnings<T>(checked: portico_config::Checked<T>) -> T {
    for w in checked.warnings.iter() {
        tracing::warn!(
            file = %w.file.display(), line = w.line, column = w.column,
            "configuration: {}", w.message
        );
    }
    checked.config
}

/// Runs the gateway until SIGTERM or SIGINT. `path` is re-read on SIGHUP
/// (`None`: nothing to reload). Calls `on_ready` once every socket is bound.
pub async fn run_with<F>(
    config: GatewayConfig,
    path: Option<PathBuf>,
    on_ready: F,
) -> Result<(), RunError>
where
    F: FnOnce(&Arc<Gateway>),
{
    let mut hangup = signal(SignalKind::hangup()).map_err(RunError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    let gateway = Gateway::start(config, systemd::inherited_listeners()).await?;
    on_ready(&gateway);
    systemd::ready();
    tracing::info!("gateway ready");
    loop {
        tokio::select! {
            _ = hangup.recv() => match &path {
                Some(path) => reload(&gateway, path),
                None => tracing::info!("SIGHUP ignored: no configuration file to re-read"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping: no new connections; waiting for open ones");
    systemd::stopping();
    gateway.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Runs the gateway from the configuration file at `path` (already loaded
/// as `config`) until SIGTERM or SIGINT.
pub async fn run(config: GatewayConfig, path: PathBuf) -> Result<(), RunError> {
    run_with(config, Some(path), |_| {}).await
}
