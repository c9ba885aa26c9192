//! One UDP flow from the gateway: a stream whose header has the
//! *datagrams* flag; the flow's datagrams travel as QUIC datagrams tagged
//! with the stream's id (`portico_link::flows`), or framed on the stream
//! when they do not fit the link's datagram size (`portico_link::datagram`),
//! both ways. The service is picked like a connection's
//! (by name, or by the gateway port for nameless flows). With `source =
//! "tunnel"` the datagrams go out of a UDP socket of the flow's own,
//! connected to the service; with `source = "original"` they come from the
//! client's own address and port through the TUN ([`TunDatagrams`]). The
//! service's replies come back on the stream. The flow ends with the stream
//! (the gateway ends it after `flow_idle`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use portico_config::model::SourceMode;
use portico_link::flows::FlowDatagrams;
use portico_link::{StreamHeader, codes, datagram};
use quinn::{RecvStream, SendStream, VarInt};
use tokio::net::UdpSocket;

use crate::deliver::{Delivery, abort, normalise, original_target};
use crate::tun::TunDatagrams;

/// Where a flow's datagrams go.
enum Local {
    /// A UDP socket of this host, connected to the service.
    Socket(UdpSocket),
    /// A UDP socket of the TUN stack, bound to the client's address.
    Tun(TunDatagrams),
}

impl Local {
    /// Sends a datagram to the service; a full buffer or an ICMP error
    /// drops it, as UDP would.
    async fn send(&self, datagram: &[u8]) {
        match self {
            Local::Socket(socket) => {
                let _ = socket.send(datagram).await;
            }
            Local::Tun(tun) => {
                let _ = tun.send(datagram);
            }
        }
    }

    /// The service's next datagram into `buf`; its length.
    async fn recv(&self, buf: &mut Vec<u8>) -> usize {
        match self {
            Local::Socket(socket) => loop {
                buf.resize(datagram::MAX_DATAGRAM, 0);
                // An ICMP error for an earlier datagram (nothing listens
                // there yet) is reported once; the flow goes on.
                if let Ok(n) = socket.recv(buf).await {
                    return n;
                }
            },
            Local::Tun(tun) => {
                *buf = tun.recv().await;
                buf.len()
            }
        }
    }
}

/// Serves the flow of `header` to its end; every problem resets the
/// stream with a code from [`codes`] and is logged.
pub(crate) async fn serve_flow(
    delivery: &Delivery,
    header: &StreamHeader,
    flows: &FlowDatagrams,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    // Registered first: the gateway may send datagrams as soon as it has
    // an answer, and an unregistered flow's datagrams are dropped.
    let id = VarInt::from(recv.id()).into_inner();
    let mut incoming = flows.register(id);
    let local = match open(delivery, header).await {
        Ok(local) => local,
        Err(reason) => {
            tracing::info!("refused UDP flow: {reason}");
            abort(&mut send, &mut recv, codes::STREAM_UNDELIVERABLE);
            return;
        }
    };
    // Two readers, each in a loop of its own: a frame read on the stream
    // is never cancelled halfway.
    let from_stream = async {
        let mut buf = Vec::new();
        while let Ok(Some(n)) = datagram::read(&mut recv, &mut buf).await {
            local.send(buf.get(..n).unwrap_or_default()).await;
        }
    };
    let from_datagrams = async {
        while let Some(d) = incoming.datagrams.recv().await {
            local.send(&d).await;
        }
    };
    let from_service = async {
        let mut buf = Vec::new();
        loop {
            let n = local.recv(&mut buf).await;
            let reply = buf.get(..n).unwrap_or_default();
            if !flows.send(id, reply) && datagram::write(&mut send, reply).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = from_stream => {}
        () = from_datagrams => {}
        () = from_service => {}
    }
    let _ = send.finish();
}

/// Picks the flow's service and opens its way there; the error says why not.
async fn open(delivery: &Delivery, header: &StreamHeader) -> Result<Local, String> {
    let service = {
        let services = delivery.services.load();
        services
            .lookup(header.host.as_ref(), header.reached.port())
            .cloned()
            .ok_or_else(|| "no service for this host".to_owned())?
    };
    match service.source {
        SourceMode::Tunnel => {
            let socket = bind_connected(service.to)
                .await
                .map_err(|e| format!("UDP service {} unreachable: {e}", service.to))?;
            tracing::debug!(to = %service.to, "UDP flow delivered");
            Ok(Local::Socket(socket))
        }
        SourceMode::Original => {
            let tun = delivery.tun.as_deref().ok_or_else(|| {
                "source = \"original\" needs TUN delivery, which is not running".to_owned()
            })?;
            let client = normalise(header.client);
            let to =
                original_target(service.to, client.ip(), &tun.config).map_err(|e| e.to_string())?;
            let flow = tun
                .delivery
                .open_udp(client, to)
                .await
                .map_err(|e| format!("TUN delivery to {to}: {e}"))?;
            tracing::debug!(%to, "UDP flow delivered from the client's address");
            Ok(Local::Tun(flow))
        }
    }
}

/// A UDP socket of the address's family on an ephemeral port, connected to `to`.
async fn bind_connected(to: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(to).await?;
    Ok(socket)
}
