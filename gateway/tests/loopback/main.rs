//! The gateway in process over real loopback sockets: a gateway started
//! from a configuration built in code, echo backends, clients speaking
//! HTTP, TLS, XMPP and dial lines, PROXY headers, the gateway's life
//! (reloads, shutdown, the admin endpoint), and its side of the tunnel link
//! with a minimal tunnel client built from `portico_link`. No third-party
//! program is needed.

// Marked as test code, so the helpers may `expect` like the tests do.
#[cfg(test)]
mod access;
#[cfg(test)]
mod lifecycle;
#[cfg(test)]
mod pipeline;
#[cfg(test)]
mod proxy;
#[cfg(test)]
mod tunnel;
#[cfg(test)]
mod tunnel_exit;
#[cfg(test)]
mod tunnel_fixtures;
#[cfg(test)]
mod tunnel_probe;
#[cfg(test)]
mod udp;
