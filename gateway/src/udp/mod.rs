//! Stage 9, UDP: `[[udp_listener]]`s. Datagrams are grouped into flows (one
//! per client address and port); a new flow is read until its protocol and
//! name are known — QUIC by the SNI in its Initial packets, `other` at once —
//! then routed with the same table, listener filter and `allow`/`deny` rules
//! as TCP, and its datagrams are forwarded unchanged through a socket of its
//! own (or, for a `tunnel` route, a stream of its own on the tunnel's link);
//! replies go back from the listener's address and port.
//!
//! - [`flows`]: the flow table and its caps (`max_flows`, `max_flows_per_ip`)
//! - [`decide`]: what a flow is and where it goes, without I/O
//! - [`batch`]: receiving runs of datagrams (GRO) and sending them in one
//!   call (GSO), and the address a client sent to
//! - [`upstream`]: a flow's backend socket and the task relaying replies
//! - [`tunnel`]: a flow's stream on a tunnel's link, datagrams framed on it
//! - [`listener`]: the receive loop that ties them together

mod batch;
mod decide;
mod flows;
mod listener;
mod tunnel;
mod upstream;

pub(crate) use listener::{UdpContext, UdpDeps, bind, run};
