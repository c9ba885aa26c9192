//! The portico gateway: listeners, sniff → route → forward, HTTP-01
//! handling and operations.
//!
//! Data flows one way: [`listener`] accepts (capped by [`limits`]),
//! [`peek`] reads the first bytes until `portico_sniff` decides (handling
//! PROXY headers through [`proxy`]), [`http01`] and [`routes`] pick where
//! the connection goes, [`connect`] reaches the backend and [`forward`]
//! moves the bytes; [`refuse`] answers what cannot be forwarded. [`acme`]
//! obtains and renews the gateway's own certificates, which [`terminate`]
//! serves on `terminate_tls` routes (over [`replay`], then [`plaintext`])
//! and the tunnel endpoint serves with `acme = true`; [`acme_side`] starts
//! both from the configuration. [`plan`]
//! holds the pipeline's decisions without I/O, [`conn`] runs the pipeline
//! for one connection, [`server`] owns the listeners,
//! reloads and shutdown, and [`daemon`] adds signals and systemd
//! ([`systemd`]). [`tunnel`] is the gateway's side of the tunnel link:
//! sessions from tunnel clients and the routes that forward into them.
//! [`metrics`], [`status`] and [`admin`] serve operations;
//! [`demo`] is the self-contained demonstration.

pub mod acme;
pub mod acme_side;
pub mod admin;
pub mod conn;
pub mod connect;
pub mod daemon;
pub mod demo;
pub mod fd_limit;
pub mod forward;
pub mod http01;
pub mod limits;
pub mod listener;
pub mod log_limit;
pub mod metrics;
pub mod peek;
pub mod plaintext;
pub mod plan;
pub mod proxy;
mod pump;
pub mod refuse;
pub mod replay;
pub mod routes;
pub mod server;
#[cfg(target_os = "linux")]
mod splice;
pub mod status;
pub mod systemd;
pub mod terminate;
pub mod tunnel;

pub use daemon::{RunError, run, run_with};
pub use server::{Gateway, GatewaySettings, StartError};
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod proxy_tests;
#[cfg(test)]
mod tunnel_fixtures;
#[cfg(test)]
mod tunnel_probe_tests;
#[cfg(test)]
mod tunnel_tests;
