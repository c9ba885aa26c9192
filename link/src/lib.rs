//! The link between portico-gateway and portico-tunnel: a QUIC connection
//! (ALPN `portico-link/1`, TLS 1.3) carrying one bidirectional stream per
//! forwarded client connection, each opened by a versioned, length-prefixed
//! header.
//!
//! The crate has a sans-IO core and a thin async layer on quinn:
//! - `header` and `control` encode and decode the stream header and the
//!   control messages over `bytes::Buf`/`BufMut`, reporting incomplete input
//!   as `Ok(None)`, with the field encodings of `wire`; [`codes`] names the
//!   QUIC application error codes and `refuse` the reasons a session is
//!   refused.
//! - `settings` holds the timeouts, limits and windows; `tls` and
//!   `endpoint` build the rustls/quinn configurations and endpoints, on
//!   the UDP socket `socket` sets up, failing with the [`EndpointError`] of
//!   `error`; `fingerprint` pins the gateway's certificate by its SHA-256.
//! - `accept` (gateway) and `connect` (tunnel client) run the session
//!   handshake, producing a [`Session`] (`session`); `auth` provides
//!   constant-time token comparison and the per-source [`FailureLimiter`].
//! - `stream` opens (gateway) and accepts (client) the per-connection
//!   streams; `chunks` reads a local connection in owned chunks for them.
//!
//! Everything the gateway and the tunnel client use is re-exported here;
//! [`codes`] (reset codes), [`datagram`] (UDP datagrams framed on a
//! stream) and [`flows`] (UDP datagrams as QUIC datagrams) are public
//! modules.

pub mod codes;
pub mod datagram;
pub mod flows;

mod accept;
mod auth;
mod chunks;
mod connect;
mod control;
mod endpoint;
mod error;
mod fingerprint;
mod header;
mod refuse;
mod session;
mod settings;
mod socket;
mod stream;
mod tls;
mod wire;

pub use accept::{AcceptError, accept_connection, accept_session};
pub use auth::{FailureLimiter, LimiterSettings, tokens_equal};
pub use chunks::ChunkReader;
pub use connect::{ConnectError, connect_session};
pub use control::{ControlError, ControlMessage, Hello};
pub use endpoint::{
    client_endpoint, server_config, server_config_with_resolver, server_endpoint,
    server_endpoint_with_config,
};
pub use error::EndpointError;
pub use fingerprint::Fingerprint;
pub use header::{CONNECTED, HeaderError, StreamHeader};
pub use refuse::RefuseReason;
pub use session::Session;
pub use settings::{LinkSettings, MAX_UDP_PAYLOAD};
pub use stream::{StreamError, read_header};
pub use tls::{ALPN, Trust, load_cert_chain, load_private_key};
pub use wire::HEADER_VERSION;
