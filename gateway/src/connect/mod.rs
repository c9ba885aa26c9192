//! Stage 5, connecting: reaching the backend a route names ([`backend`]),
//! what it is sent first ([`prefix`]), and TLS to it for terminating
//! routes with `backend_tls = true` ([`tls`]).

mod backend;
mod prefix;
mod tls;

pub(crate) use backend::{ConnectError, connect, resolve};
pub(crate) use prefix::{prefix, proxy_header};
pub(crate) use tls::BackendTlsConnector;
