//! What every connection of a running gateway shares ([`Shared`]), and the
//! gateway's `[acme]` side as the connections use it ([`AcmeSide`]): the
//! manager (whose challenges the HTTP listeners answer) and the TLS
//! acceptor of `terminate_tls` routes, both started from the configuration
//! with [`GatewaySettings`].

use std::sync::Arc;

use arc_swap::ArcSwap;
use portico_config::model::Acme;
use portico_link::FailureLimiter;
use portico_sniff::Limits;
use rustls::server::ResolvesServerCert;
use tokio_util::sync::CancellationToken;

use super::error::StartError;
use crate::accept::ConnectionLimits;
use crate::acme::{AcmeManager, AcmeSettings};
use crate::metrics::Metrics;
use crate::refuse::Refusals;
use crate::route::State;
use crate::terminate::Terminator;
use crate::tunnel::TunnelRegistry;

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The current routes and HTTP-01 settings.
    pub state: ArcSwap<State>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Connection caps.
    pub limits: ConnectionLimits,
    /// Detection caps (from `[limits]`, fixed at start).
    pub sniff_limits: Limits,
    /// Fires when the shutdown grace period is over: close what is left.
    pub hard_stop: CancellationToken,
    /// Configured tunnel clients and their live sessions.
    pub tunnels: Arc<TunnelRegistry>,
    /// The ACME manager and its TLS acceptor, when `[acme]` is configured.
    pub acme: Option<AcmeSide>,
    /// The refusal path (its log cap: `[limits] refusal_log_rate`).
    pub refusals: Refusals,
    /// Failed proxy logins per client address, kept across reloads.
    pub login_failures: Arc<FailureLimiter>,
}

/// Settings of the gateway that are not part of the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewaySettings {
    /// Timing of the ACME manager. Default [`AcmeSettings::default`].
    pub acme: AcmeSettings,
}

/// The gateway's own certificates as the connections use them.
#[derive(Debug, Clone)]
pub(crate) struct AcmeSide {
    /// Its pending HTTP-01 challenges are answered on the HTTP listeners.
    pub manager: AcmeManager,
    /// Completes TLS on `terminate_tls` routes.
    pub terminator: Terminator,
}

impl AcmeSide {
    /// Starts the manager for `[acme]` (serving the stored certificates, no
    /// network request yet) and the acceptor; `None` without `[acme]`.
    pub(crate) fn start(
        config: Option<&Acme>,
        settings: &GatewaySettings,
    ) -> Result<Option<AcmeSide>, StartError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let manager = AcmeManager::start(config, settings.acme.clone())?;
        let terminator = Terminator::new(&manager.resolver(), config.tls_handshake_timeout)?;
        Ok(Some(AcmeSide {
            manager,
            terminator,
        }))
    }

    /// The certificate resolver for the tunnel link (`[tunnels] acme = true`).
    pub(crate) fn link_resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.manager.resolver()
    }
}
