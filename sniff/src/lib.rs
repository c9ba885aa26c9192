//! Sans-IO detection of the protocol and hostname a TCP client wants, from
//! the first bytes it sent, and of the name a QUIC client asks for in its
//! first datagrams.
//!
//! [`detect`] looks at the bytes read so far and the set of protocols a
//! listener accepts, and answers whether it needs more bytes, what it found
//! (protocol, hostname, ALPN, request path, proxy target, bytes to consume),
//! or why the input cannot be routed. The answer never depends on how the
//! bytes were split across reads, and no input makes it panic.
//!
//! Modules: `tls` (ClientHello SNI and ALPN), `http` (HTTP/1.x `Host`
//! and the HTTP/2 preface), `xmpp` (stream header `to`), `dial` (the
//! `DIAL host[:port]` line), `ssh` (the client's `SSH-2.0-` banner),
//! `connect` (HTTP `CONNECT host:port` proxy requests and their Basic
//! credentials), [`socks5`] (the SOCKS5 greeting `detect` recognises, plus
//! the authentication and request messages and the replies the gateway
//! exchanges after it), [`proxy`] (PROXY protocol v1/v2 headers from a
//! trusted balancer), [`quic`] (the SNI and ALPN of a QUIC client's
//! Initial packets, read datagram by datagram by [`InitialReader`] for UDP
//! listeners; it reuses the `tls` ClientHello parser), `hostname` (normalising and validating names, behind
//! [`Hostname`]). The detectors share the vocabulary of `types` (what they
//! return and the caps they obey), `target` (what proxy clients ask for:
//! [`ProxyTarget`], [`Credentials`]) and `authority` (`host[:port]`);
//! `detect` runs them and sits above them all. [`Protocol::Other`] has no
//! detector: the gateway assigns it to what nothing else matched.
//! The rules that decide which protocol owns which bytes, and how the
//! detectors' answers combine, are documented on [`detect()`]; each
//! protocol module documents its own grammar, caps and errors.

pub mod proxy;
pub mod quic;
pub mod socks5;

mod authority;
mod connect;
mod detect;
mod dial;
mod hostname;
mod http;
mod ssh;
mod target;
mod tls;
mod types;
mod xmpp;

pub use detect::detect;
pub use hostname::{Hostname, HostnameError};
pub use proxy::{ProxyError, ProxyHeader};
pub use quic::{InitialReader, QuicError, QuicVerdict, version_negotiation};
pub use target::{Auth, Credentials, ProxyRequest, ProxyTarget};
pub use types::{Detection, Error, Http, Limits, Malformed, Protocol, ProtocolSet, Status, Tls};
