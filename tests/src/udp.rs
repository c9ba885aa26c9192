//! Loopback UDP for tests: free ports on an address, whether a port is
//! bound (read from `/proc`, so nothing is sent to the peer), and client
//! sockets whose every receive is bounded.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::{WAIT, poll_until};

/// A UDP port that was free on `ip` a moment ago (bind `:0`, release).
pub fn free_udp_port_on(ip: IpAddr) -> u16 {
    free_udp_ports_on(ip, 1)[0]
}

/// `n` distinct UDP ports that were free on `ip` a moment ago: all are
/// bound at once, then released, so none repeats. There is a tiny race
/// with other processes picking the same ports, accepted here.
pub fn free_udp_ports_on(ip: IpAddr, n: usize) -> Vec<u16> {
    let sockets: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind udp {ip}:0: {e}")))
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().expect("local_addr").port())
        .collect()
}

/// Whether some UDP socket is bound to `addr` (or to the unspecified
/// address of its family on that port), read from `/proc/net/udp*`.
pub fn is_bound_udp(addr: SocketAddr) -> bool {
    let (file, wanted, any) = match addr.ip() {
        IpAddr::V4(ip) => (
            "/proc/net/udp",
            format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(ip.octets()),
                addr.port()
            ),
            format!("00000000:{:04X}", addr.port()),
        ),
        IpAddr::V6(ip) => {
            // Four 32-bit words, each in host (little-endian) byte order.
            let hex: String = ip
                .octets()
                .chunks(4)
                .map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
                .collect();
            (
                "/proc/net/udp6",
                format!("{hex}:{:04X}", addr.port()),
                format!("{}:{:04X}", "0".repeat(32), addr.port()),
            )
        }
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .any(|local| local == wanted || local == any)
}

/// Waits until every address in `addrs` is bound; panics after [`WAIT`].
pub fn wait_bound_udp(what: &str, addrs: &[SocketAddr]) {
    let ok = poll_until(WAIT, || {
        addrs.iter().all(|a| is_bound_udp(*a)).then_some(())
    });
    assert!(
        ok.is_some(),
        "{what}: UDP {addrs:?} not bound after {WAIT:?}"
    );
}

/// A client socket on `ip`, port chosen by the kernel, with `timeout` on
/// every receive.
pub fn client_socket(ip: IpAddr, timeout: Duration) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind udp {ip}:0: {e}"));
    socket
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    socket
}

/// The next datagram on `socket` and its source, or `None` when its read
/// timeout passes first.
pub fn receive(socket: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65_535];
    let (n, from) = socket.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some((buf, from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn a_bound_socket_is_seen_on_both_families() {
        for ip in [
            IpAddr::from(Ipv4Addr::LOCALHOST),
            Ipv6Addr::LOCALHOST.into(),
        ] {
            let socket = UdpSocket::bind((ip, 0)).expect("bind");
            let addr = socket.local_addr().expect("addr");
            assert!(is_bound_udp(addr), "{addr}");
        }
    }

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_udp_ports_on(Ipv4Addr::LOCALHOST.into(), 20);
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20);
    }
}
