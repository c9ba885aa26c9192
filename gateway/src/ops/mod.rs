//! Operations: the `[admin]` endpoint ([`admin`]: `GET /metrics`,
//! `/status`, `/healthz`) and its `/status` document ([`status`]). The
//! counters themselves live in [`crate::metrics`].

pub(crate) mod admin;
pub(crate) mod status;
