//! The gateway as a process: start, systemd readiness and socket activation
//! ([`systemd`]), reload on SIGHUP, drain and exit on SIGTERM or SIGINT
//! ([`daemon`]), the open-file limit ([`fd_limit`]) and the self-contained
//! demonstration ([`demo`]).

pub(crate) mod daemon;
pub(crate) mod demo;
pub(crate) mod fd_limit;
mod systemd;
