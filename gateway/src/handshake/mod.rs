//! Stage 3, proxy handshakes: what an HTTP `CONNECT` or SOCKS5 client asks
//! for, and who it is, before routing. `CONNECT` carries both in its head
//! (already sniffed); SOCKS5 needs an exchange first: method selection, the
//! RFC 1929 username/password sub-negotiation when users are configured,
//! then the request ([`socks5`]). Credentials are checked against the
//! `[[user]]` table ([`users`]). What the client is told once routing and
//! connecting are done is in [`reply`].

mod reply;
mod socks5;
mod users;

use std::net::IpAddr;

use portico_sniff::{Auth, Protocol, ProxyTarget};
use tokio::net::TcpStream;

use crate::accept::Peeked;
use crate::refuse::Scope;

pub(crate) use reply::established;
pub(crate) use users::{Identity, Users};

/// What a proxy client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    /// The host it wants reached.
    pub target: ProxyTarget,
    /// At this port.
    pub port: u16,
    /// Who it is.
    pub identity: Identity,
}

/// Runs the handshake of a proxy protocol: `Ok(None)` for every other
/// protocol, `Ok(Some(ask))` for a proxy client ready to be routed (the
/// bytes it sent after its request are left in `peeked.buf` beyond
/// `peeked.detection.consume`), `Err(())` when the handshake ended the
/// connection (answered, counted and logged here).
pub(crate) async fn negotiate(
    stream: &mut TcpStream,
    peeked: &mut Peeked,
    users: &Users,
    scope: Scope<'_>,
) -> Result<Option<Ask>, ()> {
    match peeked.detection.protocol {
        Protocol::Connect => Ok(connect_ask(peeked, users)),
        Protocol::Socks5 => socks5::negotiate(stream, peeked, users, scope)
            .await
            .map(Some),
        _ => Ok(None),
    }
}

/// The ask of a sniffed `CONNECT` request; its credentials are checked
/// here, whatever route it reaches, so every wrong password counts.
fn connect_ask(peeked: &Peeked, users: &Users) -> Option<Ask> {
    let request = peeked.detection.connect.as_ref()?;
    let client: IpAddr = peeked.client.ip();
    let identity = match &request.auth {
        Auth::None => Identity::Anonymous,
        Auth::Basic(credentials) => users.login(client, credentials),
        Auth::Invalid => users.reject(client),
    };
    Some(Ask {
        target: request.target.clone(),
        port: request.port,
        identity,
    })
}
