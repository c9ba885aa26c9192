//! Stage 5, connecting: reaching the backend a route names ([`backend`])
//! and what it is sent first ([`prefix`]).

mod backend;
mod prefix;

pub(crate) use backend::connect;
pub(crate) use prefix::{prefix, proxy_header};
