//! Timeouts, stream limits and flow-control windows of the link, with their
//! defaults, and the QUIC transport configuration built from them.

use std::sync::Arc;
use std::time::Duration;

use quinn::{IdleTimeout, MtuDiscoveryConfig, TransportConfig, VarInt};

/// Tunables of the link. Both ends use the same type; each field says which
/// side it governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSettings {
    /// How often an otherwise silent connection sends a keep-alive, which
    /// also keeps NAT bindings on the client's side open. Default 15 s.
    pub keep_alive_interval: Duration,
    /// A connection with no traffic for this long is closed. Must exceed
    /// `keep_alive_interval`. Default 60 s.
    pub idle_timeout: Duration,
    /// The longest a QUIC/TLS handshake may take. Default 10 s.
    pub handshake_timeout: Duration,
    /// Gateway: how long a new connection may take to open the control
    /// stream and send its Hello. Client: how long it waits for the
    /// answer. Default 5 s.
    pub hello_timeout: Duration,
    /// Client: how long a new stream may take to deliver its header.
    /// Default 10 s.
    pub header_timeout: Duration,
    /// Gateway: how long opening a stream may wait for the client's stream
    /// credit. Default 10 s.
    pub open_timeout: Duration,
    /// Client: how many forwarded connections (streams) the gateway may
    /// have open at once on one session. Default 4096.
    pub max_concurrent_streams: u32,
    /// Bytes a peer may send on one stream ahead of the reader. Default
    /// 1 MiB (one forwarded connection at ~80 Mbit/s over 100 ms RTT);
    /// to be tuned with measurements.
    pub stream_receive_window: u32,
    /// Bytes a peer may send on all streams of a connection ahead of the
    /// readers. Default 16 MiB; to be tuned with measurements.
    pub connection_receive_window: u32,
    /// Bytes this end buffers for sending across all streams. Default 16 MiB.
    pub send_window: u32,
    /// The largest UDP payload, in bytes, this end accepts and probes the
    /// path for: QUIC's `max_udp_payload_size` and the upper bound of path
    /// MTU discovery. 1200..=[`MAX_UDP_PAYLOAD`]; values outside are
    /// clamped. Datagrams start at 1200 bytes and grow only as far as
    /// probes get through and the peer accepts, so a bound above the path
    /// MTU is safe: on a 1500-byte path the larger probes are lost,
    /// discovery settles at about 1470 (binary search, a few seconds under
    /// traffic), and black-hole detection falls back to 1200 if the path
    /// shrinks later. Larger datagrams cut the per-packet cost (one
    /// decryption, acknowledgement and event per datagram) on loopback and
    /// jumbo-frame links. Default [`MAX_UDP_PAYLOAD`] (6550).
    pub max_udp_payload: u16,
    /// Receive buffer asked for on the link's UDP socket, in bytes; the
    /// kernel caps it at `net.core.rmem_max` (often 208 KiB unless raised).
    /// A burst that overflows it is lost and taken for congestion.
    /// Default 4 MiB.
    pub udp_receive_buffer: usize,
    /// Send buffer asked for on the link's UDP socket, in bytes; capped at
    /// `net.core.wmem_max`. Default 4 MiB.
    pub udp_send_buffer: usize,
}

/// The largest UDP payload the link uses. quinn writes up to 10 datagrams
/// in one segmentation-offload (GSO) send, and the kernel refuses a send of
/// more than 64 KiB in all; with larger datagrams such batches would be
/// dropped. 10 × 6550 = 65,500 bytes fits over IPv4 and IPv6.
pub const MAX_UDP_PAYLOAD: u16 = 6550;

/// The smallest UDP payload QUIC allows.
const MIN_UDP_PAYLOAD: u16 = 1200;

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            keep_alive_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
            open_timeout: Duration::from_secs(10),
            max_concurrent_streams: 4096,
            stream_receive_window: 1024 * 1024,
            connection_receive_window: 16 * 1024 * 1024,
            send_window: 16 * 1024 * 1024,
            max_udp_payload: MAX_UDP_PAYLOAD,
            udp_receive_buffer: 4 * 1024 * 1024,
            udp_send_buffer: 4 * 1024 * 1024,
        }
    }
}

/// Which end of the link a transport configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The gateway: peers open only the control stream.
    Gateway,
    /// The tunnel client: the gateway opens one stream per connection.
    Client,
}

/// Streams a tunnel client may open on the gateway: the control stream.
const CLIENT_OPENED_STREAMS: u32 = 1;

impl LinkSettings {
    /// [`LinkSettings::max_udp_payload`] within the range the link uses.
    pub(crate) fn udp_payload(&self) -> u16 {
        self.max_udp_payload.clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
    }

    /// The QUIC transport configuration for one side.
    pub(crate) fn transport(&self, side: Side) -> Arc<TransportConfig> {
        let mut transport = TransportConfig::default();
        let peer_streams = match side {
            Side::Gateway => CLIENT_OPENED_STREAMS,
            Side::Client => self.max_concurrent_streams,
        };
        transport
            .max_concurrent_bidi_streams(VarInt::from_u32(peer_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .keep_alive_interval(Some(self.keep_alive_interval))
            // Durations beyond QUIC's 2^62 ms fall back to no idle timeout,
            // which only a nonsensical setting can reach.
            .max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok())
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(self.connection_receive_window))
            .send_window(u64::from(self.send_window));
        let mut discovery = MtuDiscoveryConfig::default();
        discovery.upper_bound(self.udp_payload());
        transport.mtu_discovery_config(Some(discovery));
        Arc::new(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = LinkSettings::default();
        assert_eq!(settings.keep_alive_interval, Duration::from_secs(15));
        assert_eq!(settings.idle_timeout, Duration::from_secs(60));
        assert_eq!(settings.handshake_timeout, Duration::from_secs(10));
        assert_eq!(settings.hello_timeout, Duration::from_secs(5));
        assert_eq!(settings.max_concurrent_streams, 4096);
        assert_eq!(settings.max_udp_payload, MAX_UDP_PAYLOAD);
        assert_eq!(settings.udp_receive_buffer, 4 * 1024 * 1024);
        assert_eq!(settings.udp_send_buffer, 4 * 1024 * 1024);
        assert!(settings.keep_alive_interval < settings.idle_timeout);
    }

    #[test]
    fn udp_payload_is_clamped_to_what_quic_and_gso_allow() {
        let with = |max_udp_payload| LinkSettings {
            max_udp_payload,
            ..LinkSettings::default()
        };
        assert_eq!(with(9000).udp_payload(), MAX_UDP_PAYLOAD);
        assert_eq!(with(1000).udp_payload(), 1200);
        assert_eq!(with(1452).udp_payload(), 1452);
    }
}
