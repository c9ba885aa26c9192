//! Datagrams in batches: receiving with GRO (the kernel hands over a run of
//! same-sized datagrams of one sender at once, `stride` bytes each) and
//! sending with GSO (one system call for a run), through quinn-udp, which
//! falls back to one datagram per call where the kernel cannot. It also
//! tells the address a datagram was sent to, so that replies leave from
//! that address even on a wildcard (`[::]`) listener.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// One receive: `len` bytes at the front of the buffer, datagrams of
/// `stride` bytes (the last may be shorter) from `from`, sent to `to_ip`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    /// Bytes received.
    pub(crate) len: usize,
    /// Size of each datagram in the run.
    pub(crate) stride: usize,
    /// The sender.
    pub(crate) from: SocketAddr,
    /// The local address the datagrams were sent to, when known.
    pub(crate) to_ip: Option<IpAddr>,
}

impl Received {
    /// The datagrams of the run in `buf` (an empty datagram is one too).
    pub(crate) fn datagrams<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        let data = buf.get(..self.len).unwrap_or_default();
        let empty: &'a [u8] = &[];
        std::iter::once(empty)
            .take(usize::from(data.is_empty()))
            .chain(data.chunks(self.stride.max(1)))
    }

    /// How many datagrams the run holds.
    pub(crate) fn count(&self) -> u64 {
        self.len.div_ceil(self.stride.max(1)).max(1) as u64
    }
}

/// A socket's batching state (GRO on, the offloads the kernel allows).
#[derive(Debug)]
pub(crate) struct Batched {
    state: UdpSocketState,
}

impl Batched {
    /// Turns GRO and destination-address reporting on for `socket`.
    pub(crate) fn new(socket: &UdpSocket) -> io::Result<Batched> {
        Ok(Batched {
            state: UdpSocketState::new(socket.into())?,
        })
    }

    /// Receives one run into `buf` without waiting (`WouldBlock` when none
    /// is queued; the socket's readiness is cleared then).
    pub(crate) fn try_recv(&self, socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
        socket.try_io(Interest::READABLE, || {
            let mut meta = [RecvMeta::default()];
            let n = self
                .state
                .recv(socket.into(), &mut [IoSliceMut::new(buf)], &mut meta)?;
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let [m] = meta;
            Ok(Received {
                len: m.len,
                stride: m.stride,
                from: m.addr,
                to_ip: m.dst_ip,
            })
        })
    }

    /// Sends the run `contents` (datagrams of `stride` bytes) to `to` (or,
    /// on a connected socket, its peer), from `from_ip` when given, now:
    /// one call with GSO where possible, else one per datagram. Fails with
    /// the first error (`WouldBlock` when the socket's buffer is full).
    pub(crate) fn send(
        &self,
        socket: &UdpSocket,
        to: SocketAddr,
        contents: &[u8],
        stride: usize,
        from_ip: Option<IpAddr>,
    ) -> io::Result<()> {
        let stride = stride.max(1);
        let segments = contents.len().div_ceil(stride);
        if segments <= 1 || segments <= self.state.max_gso_segments() {
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents,
                segment_size: (segments > 1).then_some(stride),
                src_ip: from_ip,
            };
            return self.state.send(socket.into(), &transmit);
        }
        for datagram in contents.chunks(stride) {
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents: datagram,
                segment_size: None,
                src_ip: from_ip,
            };
            self.state.send(socket.into(), &transmit)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(len: usize, stride: usize) -> Received {
        Received {
            len,
            stride,
            from: "192.0.2.1:1".parse().expect("address"),
            to_ip: None,
        }
    }

    #[test]
    fn a_run_splits_into_its_datagrams_and_an_empty_one_counts() {
        let buf = [7u8; 10];
        let sizes: Vec<usize> = run(10, 4).datagrams(&buf).map(<[u8]>::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(run(10, 4).count(), 3);
        let empty: Vec<usize> = run(0, 0).datagrams(&buf).map(<[u8]>::len).collect();
        assert_eq!(empty, [0], "a zero-length datagram is still a datagram");
        assert_eq!(run(0, 0).count(), 1);
    }
}
