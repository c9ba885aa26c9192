//! Operations: the `[admin]` endpoint ([`admin`]: the live page at `/`,
//! `/status`, `/metrics`, `/healthz`, served by `portico-console`) and the
//! gateway's `/status` document ([`status`]). The counters themselves live
//! in [`crate::metrics`].

pub(crate) mod admin;
pub(crate) mod status;
