//! Timeouts, stream limits and flow-control windows of the link, with their
//! defaults, and the QUIC transport configuration built from them.

use std::sync::Arc;
use std::time::Duration;

use quinn::{IdleTimeout, TransportConfig, VarInt};

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
}

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
        assert!(settings.keep_alive_interval < settings.idle_timeout);
    }
}
