//! The gateway's side of the tunnel link (`[tunnels]`, `[[tunnel]]`).
//!
//! [`listen`] runs the QUIC endpoint and turns incoming connections into
//! sessions ([`session`]) held by the [`registry`], which authenticates Hellos against
//! the configured clients and spreads new streams over a name's sessions.
//! [`deliver`] takes a connection whose route names a tunnel, opens a
//! stream on a live session and hands it to [`relay`], which moves the
//! bytes. [`probe`] finds sessions whose client died without closing.
//! [`metrics`] counts sessions, streams and refusals.

pub mod deliver;
pub mod listen;
pub mod metrics;
pub mod probe;
pub mod registry;
pub mod relay;
pub mod session;

pub use listen::{LinkServer, TunnelStartError};
pub use registry::{RegistryLimits, TunnelRegistry, TunnelStatus};
