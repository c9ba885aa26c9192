//! Why the gateway cannot start, or a new configuration cannot be applied.

use std::io;
use std::net::SocketAddr;

use crate::acme::AcmeError;
use crate::route::RouteError;
use crate::tunnel::TunnelStartError;

/// Why the gateway cannot start or a new configuration cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The routes cannot be served.
    #[error(transparent)]
    Routes(#[from] RouteError),
    /// The tunnel endpoint could not be set up.
    #[error(transparent)]
    Tunnels(#[from] TunnelStartError),
    /// The `[acme]` section cannot be served (names the URL, name or path).
    #[error("[acme]: {0}")]
    Acme(#[from] AcmeError),
    /// The TLS configuration for the `[acme]` certificates was refused.
    #[error("[acme] TLS configuration: {0}")]
    AcmeTls(#[from] rustls::Error),
    /// A listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}
