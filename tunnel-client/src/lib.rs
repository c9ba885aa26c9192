//! The portico tunnel client: it dials portico-gateway over the QUIC link,
//! receives the connections the gateway routes to it, and delivers each to
//! a local service: plainly, with a PROXY header, or through a TUN device
//! from the original client address.
//!
//! How the modules fit:
//! - `client` runs the reconnect loop ([`run_client_with`]): `attempt`
//!   resolves the gateway and runs the handshake, `backoff` spaces the
//!   attempts, and a live session (`link`) accepts one stream per
//!   connection.
//! - Each stream is delivered in its own task (`deliver`): the header names
//!   the host, `services` picks the `[[service]]`, and `relay` copies both
//!   ways. `source = "original"` services are reached through [`tun`]. A
//!   stream with the *datagrams* flag is a UDP flow (`flow`): its
//!   datagrams, framed on the stream, go out of a UDP socket of its own.
//! - [`daemon`] is the program around it: signals, reload, systemd.
//! - `settings` holds every timeout and limit with its default
//!   ([`ClientSettings`]).
//! - [`status`] is what the client knows about its session and streams;
//!   [`admin`] serves it on the optional `[admin]` endpoint (the console
//!   page, `/status`, `/metrics`, `/healthz`).

pub mod admin;
pub mod daemon;
pub mod status;
pub mod tun;

mod attempt;
mod backoff;
mod client;
mod deliver;
mod exits;
mod flow;
mod link;
mod relay;
mod services;
mod settings;

pub use attempt::AttemptError;
pub use client::{ClientEvent, ClientOptions, EventHook, RunError, run_client_with};
pub use settings::{BackoffSettings, ClientSettings};
pub use status::ClientStatus;
