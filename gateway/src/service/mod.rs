//! The gateway as a process: start, systemd readiness and socket activation
//! ([`systemd`]), reload on SIGHUP, drain and exit on SIGTERM or SIGINT
//! ([`daemon`]), the open-file limit ([`fd_limit`]), the self-contained
//! demonstration ([`demo`]) and `tunnel add` ([`tunnel_add`]), which
//! onboards a tunnel client.

pub(crate) mod daemon;
pub(crate) mod demo;
pub(crate) mod fd_limit;
mod systemd;
pub(crate) mod tunnel_add;
