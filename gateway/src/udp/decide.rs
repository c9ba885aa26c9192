//! What a UDP flow is and where it goes, without I/O: the flow's datagrams
//! are read (the QUIC Initial's SNI, or nothing for `other`) until the
//! protocol and name are known, then the route is chosen with the same
//! table, listener filter and `allow`/`deny` rules as TCP.

use std::net::SocketAddr;

use portico_config::model::{Backend, Target};
use portico_sniff::quic::{InitialReader, QuicVerdict, version_negotiation};
use portico_sniff::{Hostname, Protocol, ProtocolSet};

use crate::metrics::UdpDrop;
use crate::route::{Key, RouteTable};

/// What a flow's datagrams have told so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// A QUIC flow without its whole ClientHello yet: hold the datagram.
    Hold,
    /// The flow's protocol and name (QUIC with its SNI, or nameless `other`).
    Known(Protocol, Option<Hostname>),
    /// A long header of a QUIC version neither v1 nor v2, on a listener
    /// without `other`: answer with this Version Negotiation packet (if
    /// any: only to a datagram of Initial size) and keep no flow.
    Negotiate(Option<Vec<u8>>),
    /// Drop the flow's datagrams.
    Drop(UdpDrop),
}

/// Reads one datagram of a flow on a listener with `protocols`. `reader` is
/// the flow's QUIC reader (fed only when `quic` is enabled).
pub(crate) fn read(protocols: ProtocolSet, reader: &mut InitialReader, datagram: &[u8]) -> Reading {
    let other = protocols.contains(Protocol::Other);
    if !protocols.contains(Protocol::Quic) {
        return Reading::Known(Protocol::Other, None);
    }
    match reader.push(datagram) {
        QuicVerdict::NeedMore => Reading::Hold,
        QuicVerdict::Complete(found) => Reading::Known(Protocol::Quic, found.host),
        // A version this gateway cannot read: a port forward when `other`
        // is on (the backend may speak it), else Version Negotiation.
        QuicVerdict::UnknownVersion(_) if other => Reading::Known(Protocol::Other, None),
        QuicVerdict::UnknownVersion(_) => Reading::Negotiate(version_negotiation(datagram)),
        QuicVerdict::NotQuic if other => Reading::Known(Protocol::Other, None),
        QuicVerdict::NotQuic => Reading::Drop(UdpDrop::NotQuic),
        QuicVerdict::Invalid(_) => Reading::Drop(UdpDrop::InvalidQuic),
    }
}

/// Where a flow goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Destination {
    /// A backend or a tunnel.
    pub(crate) via: Via,
    /// The route's label, for logs.
    pub(crate) route: String,
}

/// The route's target for a flow.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// A backend address.
    Backend {
        /// The route's backend.
        backend: Backend,
        /// The port when the backend names none: the listener's own.
        default_port: u16,
    },
    /// The tunnel client of this name.
    Tunnel(String),
}

/// The route for a flow from `client` whose protocol and name are known,
/// on the listener named `listener` bound at `local`.
pub(crate) fn route(
    routes: &RouteTable,
    listener: Option<&str>,
    local: SocketAddr,
    client: SocketAddr,
    protocol: Protocol,
    host: Option<&Hostname>,
) -> Result<Destination, UdpDrop> {
    let key = Key {
        host,
        protocol,
        listener,
    };
    let (entry, _) = routes.find(key).ok_or(UdpDrop::NoRoute)?;
    if !entry.access.admits_client(client.ip().to_canonical()) {
        return Err(UdpDrop::Denied);
    }
    let via = match &entry.target {
        Target::Backend(backend) => Via::Backend {
            backend: backend.clone(),
            default_port: local.port(),
        },
        Target::Tunnel(name) => Via::Tunnel(name.clone()),
    };
    Ok(Destination {
        via,
        route: entry.label.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_sniff::Limits;

    #[test]
    fn other_only_needs_no_reading() {
        let mut reader = InitialReader::new(&Limits::default());
        let r = read(ProtocolSet::only(Protocol::Other), &mut reader, b"\x00dns");
        assert_eq!(r, Reading::Known(Protocol::Other, None));
    }

    #[test]
    fn not_quic_is_other_or_dropped() {
        let mut reader = InitialReader::new(&Limits::default());
        let both = ProtocolSet::only(Protocol::Quic).with(Protocol::Other);
        assert_eq!(
            read(both, &mut reader, b"\x01wireguard"),
            Reading::Known(Protocol::Other, None)
        );
        let mut reader = InitialReader::new(&Limits::default());
        assert_eq!(
            read(ProtocolSet::only(Protocol::Quic), &mut reader, b"\x01x"),
            Reading::Drop(UdpDrop::NotQuic)
        );
    }

    #[test]
    fn unknown_version_gets_negotiation_on_a_quic_only_listener() {
        let mut datagram = vec![0u8; 1200];
        datagram[0] = 0xc0;
        datagram[1..5].copy_from_slice(&0x1a2a_3a4a_u32.to_be_bytes());
        datagram[5] = 8; // DCID length
        datagram[14] = 8; // SCID length
        let mut reader = InitialReader::new(&Limits::default());
        match read(ProtocolSet::only(Protocol::Quic), &mut reader, &datagram) {
            Reading::Negotiate(Some(answer)) => {
                assert_eq!(&answer[1..5], &[0, 0, 0, 0], "a Version Negotiation packet");
            }
            other => panic!("expected Version Negotiation, got {other:?}"),
        }
    }
}
