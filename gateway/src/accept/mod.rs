//! Stage 1, accepting: listening sockets and their accept loops
//! ([`listener`]), connection caps in total and per client IP
//! ([`limits`]), and the peek that reads a client's first bytes until
//! `portico_sniff` decides ([`peek`]), taking the client's address from a
//! trusted balancer's PROXY header ([`proxy`]). [`context`] is the listener
//! as its connections see it.

mod context;
mod limits;
mod listener;
mod peek;
mod proxy;

pub(crate) use context::ListenerContext;
pub(crate) use limits::{Admission, ConnectionLimits, LimitExceeded};
pub use listener::bind as bind_listener;
pub(crate) use listener::{accept_loop, normalise};
pub(crate) use peek::{PeekError, PeekSettings, Peeked, peek};
pub(crate) use proxy::encode_header;
