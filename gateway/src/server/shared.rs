//! What every connection of a running gateway shares ([`Shared`]), the
//! gateway's `[acme]` side as the connections use it ([`AcmeSide`]: the
//! manager, whose challenges the HTTP listeners answer, started from the
//! configuration with [`GatewaySettings`]) and the TLS of `terminate_tls`
//! routes ([`TlsSide`]: the acceptor serving the `[[certificate]]` and
//! `[acme]` certificates, and the connector for `backend_tls`).

use std::sync::Arc;

use arc_swap::ArcSwap;
use portico_config::model::{Acme, Certificate};
use portico_link::FailureLimiter;
use portico_sniff::Limits;
use rustls::server::ResolvesServerCert;
use tokio_util::sync::CancellationToken;

use super::error::StartError;
use crate::accept::ConnectionLimits;
use crate::acme::{AcmeManager, AcmeSettings};
use crate::connect::BackendTlsConnector;
use crate::metrics::Metrics;
use crate::refuse::Refusals;
use crate::route::State;
use crate::terminate::{SniResolver, Terminator};
use crate::tunnel::TunnelRegistry;

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The current routes and HTTP-01 settings.
    pub state: Arc<ArcSwap<State>>,
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
    /// The ACME manager, when `[acme]` is configured.
    pub acme: Option<AcmeSide>,
    /// TLS on terminating routes.
    pub tls: TlsSide,
    /// The refusal path (its log cap: `[limits] refusal_log_rate`).
    pub refusals: Arc<Refusals>,
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
}

/// TLS on `terminate_tls` routes.
#[derive(Debug)]
pub(crate) struct TlsSide {
    /// Completes the client's handshake with the certificate its SNI names.
    pub terminator: Terminator,
    /// TLS to backends of routes with `backend_tls = true`.
    pub backend: BackendTlsConnector,
}

impl TlsSide {
    /// Serves `certificates` and, with `[acme]`, its certificates.
    pub(crate) fn new(
        certificates: &[Certificate],
        acme: Option<&AcmeSide>,
        handshake_timeout: std::time::Duration,
    ) -> Result<TlsSide, StartError> {
        let resolver = Arc::new(SniResolver::new(
            certificates,
            acme.map(|a| a.manager.resolver()),
        ));
        Ok(TlsSide {
            terminator: Terminator::new(&resolver, handshake_timeout)?,
            backend: BackendTlsConnector::default(),
        })
    }

    /// A reload: new handshakes get `certificates`; backend trust is
    /// rebuilt from the new routes at their next connection.
    pub(crate) fn reload(&self, certificates: &[Certificate]) {
        self.terminator.resolver().set_certificates(certificates);
        self.backend.clear();
    }
}

impl AcmeSide {
    /// Starts the manager for `[acme]` (serving the stored certificates, no
    /// network request yet); `None` without `[acme]`.
    pub(crate) fn start(
        config: Option<&Acme>,
        settings: &GatewaySettings,
    ) -> Result<Option<AcmeSide>, StartError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let manager = AcmeManager::start(config, settings.acme.clone())?;
        Ok(Some(AcmeSide { manager }))
    }

    /// The certificate resolver for the tunnel link (`[tunnels] acme = true`).
    pub(crate) fn link_resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.manager.resolver()
    }
}
