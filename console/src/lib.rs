//! The operator's console, shared by `portico-gateway` and `portico-tunnel`:
//! the `[admin]` endpoint (`/`, `/status`, `/metrics`, `/healthz`), the live
//! page it serves, the `/status` document, and the `status` command's
//! client and terminal tables.
//!
//! How the modules fit:
//! - [`model`] is the `/status` document (serde types); each program fills
//!   one through its [`StatusSource`].
//! - [`history`] keeps a capped ring of samples taken by the server, from
//!   which the chart and the "refusals over the last minutes" are drawn.
//! - [`server`] accepts admin connections (capped in number, size and time),
//!   [`request`] parses one request head, [`auth`] checks the optional
//!   token (Bearer header or cookie, in constant time), [`respond`] picks
//!   the answer.
//! - [`page`] renders the HTML page on the server (tables work without
//!   JavaScript); [`chart`] draws its SVG; the assets in `assets/` are
//!   compiled in with `include_str!` and only refresh the page.
//! - [`view`] turns a document into tables of text, which [`page`] and
//!   [`table`] both show.
//! - [`command`] is the `status` command of both programs: [`fetch`] is
//!   its HTTP client, [`table`] prints the same picture in a terminal;
//!   [`human`] formats bytes and durations for the page and the tables.
//! - [`manual`] writes the man pages and shell completions from the
//!   programs' clap definitions.

pub mod auth;
pub mod chart;
pub mod command;
pub mod fetch;
pub mod history;
pub mod human;
pub mod manual;
pub mod model;
pub mod page;
pub mod request;
pub mod respond;
pub mod server;
pub mod table;
pub mod view;

pub use auth::AdminToken;
pub use fetch::{FetchError, connect_addr, fetch_status};
pub use model::Status;
pub use server::{AdminSettings, StatusSource, serve};
