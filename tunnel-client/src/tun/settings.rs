//! Bounds and tuning of TUN delivery, with their defaults.

use std::time::Duration;

/// Bounds and tuning of TUN delivery; [`TunSettings::default`] gives the
/// documented defaults.
#[derive(Debug, Clone)]
pub struct TunSettings {
    /// MTU of the TUN device (default 65535: the device never leaves the
    /// host, so large packets stand in for segmentation offload).
    pub mtu: u16,
    /// Transmit queue length of the TUN device (default 10000; the kernel's
    /// 500 drops packets under many concurrent connections).
    pub txqueuelen: u32,
    /// Receive buffer of each connection in bytes (default 64 KiB).
    pub socket_rx_buf: usize,
    /// Send buffer of each connection in bytes (default 64 KiB).
    pub socket_tx_buf: usize,
    /// Open connections at most (default 1024); memory is about
    /// `max_connections × (socket_rx_buf + socket_tx_buf)`.
    pub max_connections: usize,
    /// How long a client's route stays after its last connection closed
    /// (default 10 s), for the closing handshake and quick reconnects.
    pub route_linger: Duration,
    /// How long a connection attempt waits for the service (default 5 s).
    pub connect_timeout: Duration,
}

impl Default for TunSettings {
    fn default() -> Self {
        Self {
            mtu: 65535,
            txqueuelen: 10_000,
            socket_rx_buf: 64 * 1024,
            socket_tx_buf: 64 * 1024,
            max_connections: 1024,
            route_linger: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}
