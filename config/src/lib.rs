//! Configuration of portico-gateway and portico-tunnel: the TOML schema,
//! parsed with serde into types that cannot be invalid, validated as a
//! whole, with every error reported against the file, line and column it
//! comes from.
//!
//! [`load_gateway`] and [`load_tunnel`] are the entry points; [`model`]
//! holds the validated types they return.

pub mod model;

mod diagnostics;
mod host_pattern;
mod secret;

pub use diagnostics::{Diagnostic, Diagnostics};
pub use host_pattern::HostPattern;
pub use model::{GatewayConfig, TunnelConfig};
pub use secret::Secret;

use std::path::Path;

/// Reads, parses and validates a gateway configuration file.
pub fn load_gateway(path: &Path) -> Result<GatewayConfig, Diagnostics> {
    let _ = path;
    Err(Diagnostics::default())
}

/// Reads, parses and validates a tunnel-client configuration file.
pub fn load_tunnel(path: &Path) -> Result<TunnelConfig, Diagnostics> {
    let _ = path;
    Err(Diagnostics::default())
}
