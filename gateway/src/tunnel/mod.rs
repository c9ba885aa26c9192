//! Stage 8, tunnels: the gateway's side of the tunnel link (`[tunnels]`,
//! `[[tunnel]]`).
//!
//! [`listen`] runs the QUIC endpoint and turns incoming connections into
//! sessions ([`session`]) held by the [`registry`], which authenticates
//! Hellos against the configured clients and spreads new streams over a
//! name's sessions. [`deliver`] takes a connection whose route names a
//! tunnel, opens a stream on a live session and relays the bytes
//! ([`crate::forward::quic`]). [`probe`] finds sessions whose client died
//! without closing. [`identity`] makes and keeps the self-signed link
//! certificate of a `[tunnels]` section without `cert`/`key`.

mod deliver;
pub mod identity;
mod listen;
mod probe;
mod registry;
mod session;

pub(crate) use deliver::{Opened, deliver, open as open_stream};
pub(crate) use listen::LinkServer;
pub use listen::TunnelStartError;
pub use registry::{RegisterError, RegistryLimits, TunnelRegistry, TunnelStatus};
pub use session::{LiveSession, SessionStatus};
