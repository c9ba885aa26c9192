//! The link between portico-gateway and portico-tunnel: a QUIC connection
//! (ALPN `portico-link/1`) carrying one bidirectional stream per forwarded
//! client connection, each opened by a versioned, length-prefixed header.
//!
//! The header codec and the transport arrive with the tunnel work; this
//! crate holds the protocol constants both sides already agree on.

/// The ALPN protocol name of the link.
pub const ALPN: &[u8] = b"portico-link/1";

/// The version of the stream header this build speaks.
pub const HEADER_VERSION: u8 = 1;
