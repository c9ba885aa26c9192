//! One UDP flow from the gateway: a stream whose header has the
//! *datagrams* flag carries the flow's datagrams framed both ways
//! (`portico_link::datagram`). The service is picked like a connection's
//! (by name, or by the gateway port for nameless flows); with `source =
//! "tunnel"` the datagrams go out of a UDP socket of the flow's own,
//! connected to the service, and its replies come back on the stream. The
//! flow ends with the stream (the gateway ends it after `flow_idle`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use portico_config::model::SourceMode;
use portico_link::{StreamHeader, codes, datagram};
use quinn::{RecvStream, SendStream};
use tokio::net::UdpSocket;

use crate::deliver::{Delivery, abort};

/// Serves the flow of `header` to its end; every problem resets the
/// stream with a code from [`codes`] and is logged.
pub(crate) async fn serve_flow(
    delivery: &Delivery,
    header: &StreamHeader,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let service = {
        let services = delivery.services.load();
        services
            .lookup(header.host.as_ref(), header.reached.port())
            .cloned()
    };
    let Some(service) = service else {
        tracing::info!("refused: no service for this UDP flow");
        abort(&mut send, &mut recv, codes::STREAM_UNDELIVERABLE);
        return;
    };
    if service.source == SourceMode::Original {
        tracing::warn!(
            to = %service.to,
            "refused: UDP flows are delivered with source = \"tunnel\" only in this build"
        );
        abort(&mut send, &mut recv, codes::STREAM_UNDELIVERABLE);
        return;
    }
    let socket = match bind_connected(service.to).await {
        Ok(socket) => socket,
        Err(err) => {
            tracing::warn!(to = %service.to, error = %err, "UDP service unreachable");
            abort(&mut send, &mut recv, codes::STREAM_UNDELIVERABLE);
            return;
        }
    };
    tracing::debug!(to = %service.to, "UDP flow delivered");
    let to_service = async {
        let mut buf = Vec::new();
        while let Ok(Some(n)) = datagram::read(&mut recv, &mut buf).await {
            // A full socket buffer or an ICMP error drops the datagram, as
            // UDP would; the flow goes on.
            let _ = socket.send(buf.get(..n).unwrap_or_default()).await;
        }
    };
    let from_service = async {
        let mut buf = vec![0u8; datagram::MAX_DATAGRAM];
        loop {
            match socket.recv(&mut buf).await {
                Ok(n) => {
                    if datagram::write(&mut send, buf.get(..n).unwrap_or_default())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                // An ICMP error for an earlier datagram (nothing listens
                // there yet): reported once, the flow goes on.
                Err(_) => continue,
            }
        }
    };
    tokio::select! {
        () = to_service => {}
        () = from_service => {}
    }
    let _ = send.finish();
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
