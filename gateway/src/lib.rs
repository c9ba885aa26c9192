//! The portico gateway: listeners, sniff → route → forward, HTTP-01
//! handling, the gateway's side of the tunnel link, ACME and operations.
//!
//! The modules are the stages of a connection's way through the gateway, in
//! order; a stage uses earlier stages and the foundations below, never a
//! later one:
//!
//! | stage | module | job |
//! |---|---|---|
//! | 1 | [`accept`](crate::accept) | listening sockets, connection caps, the peek that sniffs the first bytes (PROXY headers in) |
//! | 2 | [`refuse`](crate::refuse) | the one refusal path: log once, count, answer in the client's protocol |
//! | 3 | [`handshake`](crate::handshake) | proxy clients (`CONNECT`, SOCKS5): what they ask for, who they are (`[[user]]`), their success replies |
//! | 4 | [`route`](crate::route) | the route table and the plan for a sniffed connection (HTTP-01 first; listeners, allow/deny, users, ports) |
//! | 5 | [`connect`](crate::connect) | reaching the backend, and what it is sent first |
//! | 6 | [`forward`](crate::forward) | the byte movers: TCP pump with splice, stream copy, QUIC half-pipes |
//! | 7 | [`terminate`](crate::terminate) | `terminate_tls` routes: the gateway's TLS handshake, then a plaintext copy |
//! | 8 | [`tunnel`] | the link endpoint, tunnel sessions, delivery of a connection into a tunnel |
//! | 9 | [`udp`](crate::udp) | `[[udp_listener]]`s: flows, QUIC routed by SNI, datagrams forwarded unchanged |
//!
//! Foundations every stage may use: [`metrics`](crate::metrics) (counters
//! and their rendering) and [`acme`] (the gateway's own certificates).
//! Above the stages: [`ops`](crate::ops) serves the admin endpoint,
//! [`server`](crate::server) wires the stages into a running [`Gateway`]
//! (one connection: `server::connection`), and [`service`](crate::service)
//! runs it as a process (signals, systemd, the demo, logging, `tunnel add`).

pub mod acme;
mod metrics;

mod accept;
mod connect;
mod forward;
mod handshake;
mod refuse;
mod route;
mod terminate;
pub mod tunnel;
mod udp;

mod ops;
mod server;
mod service;

pub use accept::bind_listener;
pub use metrics::Metrics;
pub use server::{Gateway, GatewaySettings, StartError};
pub use service::daemon::{RunError, log_config_warnings, run, run_with};
pub use service::demo::run_demo;
pub use service::fd_limit::raise_to_hard as raise_open_file_limit;
pub use service::tunnel_add::{TunnelAdd, TunnelAddError, TunnelAddOptions, tunnel_add};
