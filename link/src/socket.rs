//! The link's UDP socket and quinn endpoint configuration: socket buffer
//! sizes and the largest UDP payload this end accepts, from
//! [`LinkSettings`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use quinn::{Endpoint, EndpointConfig, ServerConfig, TokioRuntime};
use socket2::{Domain, Protocol, Socket, Type};

use crate::settings::LinkSettings;

/// Binds the link's UDP socket on `addr`, asks for the socket buffer sizes
/// of `settings` and wraps it in a quinn endpoint (a server endpoint if
/// `server` is given). An IPv6 socket also takes IPv4 where the system
/// allows it.
pub(crate) fn bind_endpoint(
    addr: SocketAddr,
    server: Option<ServerConfig>,
    settings: &LinkSettings,
) -> io::Result<Endpoint> {
    let socket = udp_socket(addr, settings)?;
    Endpoint::new(
        endpoint_config(settings),
        server,
        socket,
        Arc::new(TokioRuntime),
    )
}

/// The endpoint configuration: the largest UDP payload this end accepts,
/// which also caps what the peer's MTU discovery probes for.
pub(crate) fn endpoint_config(settings: &LinkSettings) -> EndpointConfig {
    let mut config = EndpointConfig::default();
    // Only fails outside 1200..=65527, which `udp_payload` rules out.
    let _ = config.max_udp_payload_size(settings.udp_payload());
    config
}

fn udp_socket(addr: SocketAddr, settings: &LinkSettings) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Without dual-stack the socket still serves IPv6.
        if let Err(err) = socket.set_only_v6(false) {
            tracing::debug!(%err, "link socket: cannot make it dual-stack");
        }
    }
    // The kernel caps both at net.core.{r,w}mem_max; a smaller buffer only
    // costs throughput, so a refusal is logged, not fatal.
    if let Err(err) = socket.set_recv_buffer_size(settings.udp_receive_buffer) {
        tracing::debug!(%err, "link socket: cannot set the receive buffer size");
    }
    if let Err(err) = socket.set_send_buffer_size(settings.udp_send_buffer) {
        tracing::debug!(%err, "link socket: cannot set the send buffer size");
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoint_binds_with_the_settings() {
        let settings = LinkSettings::default();
        let endpoint =
            bind_endpoint("127.0.0.1:0".parse().expect("addr"), None, &settings).expect("bind");
        let local = endpoint.local_addr().expect("local addr");
        assert!(local.ip().is_loopback());
        assert_ne!(local.port(), 0);
    }

    #[test]
    fn endpoint_config_carries_the_payload_limit() {
        let settings = LinkSettings {
            max_udp_payload: 4000,
            ..LinkSettings::default()
        };
        let config = endpoint_config(&settings);
        assert_eq!(config.get_max_udp_payload_size(), 4000);
    }

    #[test]
    fn socket_buffers_are_set() {
        // Below the kernel's caps (net.core.{r,w}mem_max are never under
        // 208 KiB by default), so Linux grants the size and doubles it
        // for its bookkeeping.
        let settings = LinkSettings {
            udp_receive_buffer: 96 * 1024,
            udp_send_buffer: 80 * 1024,
            ..LinkSettings::default()
        };
        let socket = udp_socket("127.0.0.1:0".parse().expect("addr"), &settings).expect("bind");
        let socket = Socket::from(socket);
        assert_eq!(socket.recv_buffer_size().expect("rcvbuf"), 2 * 96 * 1024);
        assert_eq!(socket.send_buffer_size().expect("sndbuf"), 2 * 80 * 1024);
    }
}
