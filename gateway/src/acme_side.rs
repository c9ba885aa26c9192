//! The gateway's `[acme]` side as the rest of the gateway uses it: the
//! manager (whose challenges the HTTP listeners answer) and the TLS
//! acceptor of `terminate_tls` routes, both started from the configuration
//! with [`GatewaySettings`].

use std::sync::Arc;

use portico_config::model::Acme;
use rustls::server::ResolvesServerCert;

use crate::acme::{AcmeManager, AcmeSettings};
use crate::server::StartError;
use crate::terminate::Terminator;

/// Settings of the gateway that are not part of the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewaySettings {
    /// Timing of the ACME manager. Default [`AcmeSettings::default`].
    pub acme: AcmeSettings,
}

/// The gateway's own certificates as the connections use them.
#[derive(Debug, Clone)]
pub struct AcmeSide {
    /// Its pending HTTP-01 challenges are answered on the HTTP listeners.
    pub manager: AcmeManager,
    /// Completes TLS on `terminate_tls` routes.
    pub terminator: Terminator,
}

impl AcmeSide {
    /// Starts the manager for `[acme]` (serving the stored certificates, no
    /// network request yet) and the acceptor; `None` without `[acme]`.
    pub fn start(
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
    pub fn link_resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.manager.resolver()
    }
}
