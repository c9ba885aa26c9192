//! Zero-copy forwarding of a burst between two TCP sockets on Linux:
//! splice(2) socket → pipe → socket, so the bytes never enter user space.
//! The pump drives the two steps from tokio readiness.
//!
//! The pipe exists only for the burst: it is opened when a burst starts and
//! closed as soon as the source has nothing more, so a connection between
//! bursts (idle, or waiting for its peer) holds no pipe: no descriptors beyond
//! its two sockets and no kernel pipe memory.

use std::io;
use std::os::fd::OwnedFd;

use rustix::pipe::{PipeFlags, SpliceFlags, fcntl_setpipe_size, pipe_with, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Capacity asked of each pipe (`F_SETPIPE_SZ`), which is also the most one
/// splice(2) moves at a time. Chosen by measurement (one loopback bulk
/// stream, gateway CPU per GiB moved): 64 KiB (the kernel default) costs
/// more CPU per byte; 1 MiB is no better than 256 KiB and costs 17 KiB of
/// kernel memory per pipe against 5.4 KiB. If the kernel refuses the size
/// (the per-user pipe quota), the pipe keeps its default size.
pub(crate) const PIPE_SIZE: usize = 256 * 1024;

/// A pipe for one burst, always emptied before its source is read again.
#[derive(Debug)]
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// A non-blocking pipe of [`PIPE_SIZE`] (or the kernel's default size).
    pub(crate) fn open() -> io::Result<Self> {
        let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        // A smaller pipe still works, only with more system calls.
        let _ = fcntl_setpipe_size(&write, PIPE_SIZE);
        Ok(Self { read, write })
    }

    /// Splices what `from` has (at most [`PIPE_SIZE`]) into the empty pipe.
    /// `Ok(0)` is end of stream; `WouldBlock` means the socket has nothing
    /// (the pipe being empty, it cannot mean the pipe is full) and clears
    /// its read readiness.
    pub(crate) fn fill(&self, from: &TcpStream) -> io::Result<usize> {
        from.try_io(Interest::READABLE, || {
            Ok(splice(from, None, &self.write, None, PIPE_SIZE, FLAGS)?)
        })
    }

    /// Splices up to `held` bytes from the pipe into `to`. `WouldBlock`
    /// means the socket has no room, and clears its write readiness.
    pub(crate) fn drain(&self, to: &TcpStream, held: usize) -> io::Result<usize> {
        to.try_io(Interest::WRITABLE, || {
            Ok(splice(&self.read, None, to, None, held, FLAGS)?)
        })
    }
}

const FLAGS: SpliceFlags = SpliceFlags::MOVE.union(SpliceFlags::NONBLOCK);

/// Whether `err` says splice(2) cannot work on these descriptors at all.
pub(crate) fn unsupported(err: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(err),
        Some(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP)
    )
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::sync::CancellationToken;

    use std::time::Duration;

    use crate::forward::pump::Pump;
    use crate::forward::test_support::pair;
    use crate::forward::{End, Path, Totals, forward_by};
    use crate::metrics::Metrics;

    use super::*;

    /// Client end, backend end, and the forwarding task between them.
    async fn through_gateway(
        path: Path,
        idle: Option<Duration>,
    ) -> (
        TcpStream,
        TcpStream,
        tokio::task::JoinHandle<io::Result<Totals>>,
    ) {
        let (client, client_side) = pair().await;
        let (backend_side, backend) = pair().await;
        let task = tokio::spawn(forward_by(
            client_side,
            backend_side,
            Vec::new(),
            idle,
            Metrics::default().listener("t"),
            CancellationToken::new(),
            path,
        ));
        (client, backend, task)
    }

    /// `len` bytes of a xorshift sequence from `seed`: no two runs of it alike.
    fn pattern(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect()
    }

    /// FNV-1a over `bytes`.
    fn checksum(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Sends `out` and reads to end of stream at the same time.
    async fn exchange(stream: TcpStream, out: Vec<u8>) -> Vec<u8> {
        let (mut read, mut write) = stream.into_split();
        let sender = tokio::spawn(async move {
            write.write_all(&out).await.expect("send");
            write.shutdown().await.expect("half-close");
            write
        });
        let mut got = Vec::new();
        read.read_to_end(&mut got).await.expect("read to EOF");
        drop(sender.await.expect("sender"));
        got
    }

    async fn eight_mib_each_way(path: Path) {
        const LEN: usize = 8 * 1024 * 1024;
        let (client, backend, task) = through_gateway(path, None).await;
        let up = pattern(1, LEN);
        let down = pattern(2, LEN);
        let (up_sum, down_sum) = (checksum(&up), checksum(&down));
        let (at_backend, at_client) = tokio::join!(exchange(backend, down), exchange(client, up));
        assert_eq!(at_backend.len(), LEN);
        assert_eq!(at_client.len(), LEN);
        assert_eq!(checksum(&at_backend), up_sum, "client → backend intact");
        assert_eq!(checksum(&at_client), down_sum, "backend → client intact");
        let totals = task.await.expect("join").expect("forward ok");
        assert_eq!(
            totals,
            Totals {
                to_backend: LEN as u64,
                to_client: LEN as u64,
                end: End::Done
            }
        );
    }

    #[tokio::test]
    async fn splice_moves_8_mib_each_way_intact() {
        eight_mib_each_way(Path::Splice).await;
    }

    #[tokio::test]
    async fn copy_loop_moves_8_mib_each_way_intact() {
        eight_mib_each_way(Path::Copy).await;
    }

    /// `first` half-closes after one message; `second` still gets bytes to it
    /// afterwards, then half-closes too.
    async fn half_close_then_other_way(mut first: TcpStream, mut second: TcpStream) {
        first.write_all(b"request").await.expect("write");
        first.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        second.read_to_end(&mut got).await.expect("EOF passed on");
        assert_eq!(got, b"request");
        second
            .write_all(b"answer after EOF")
            .await
            .expect("write back");
        second.shutdown().await.expect("half-close back");
        let mut back = Vec::new();
        first.read_to_end(&mut back).await.expect("EOF back");
        assert_eq!(back, b"answer after EOF");
    }

    #[tokio::test]
    async fn splice_carries_half_close_from_the_client() {
        let (client, backend, task) = through_gateway(Path::Splice, None).await;
        half_close_then_other_way(client, backend).await;
        let totals = task.await.expect("join").expect("forward ok");
        assert_eq!((totals.to_backend, totals.to_client), (7, 16));
        assert_eq!(totals.end, End::Done);
    }

    #[tokio::test]
    async fn splice_carries_half_close_from_the_backend() {
        let (client, backend, task) = through_gateway(Path::Splice, None).await;
        half_close_then_other_way(backend, client).await;
        let totals = task.await.expect("join").expect("forward ok");
        assert_eq!((totals.to_backend, totals.to_client), (16, 7));
        assert_eq!(totals.end, End::Done);
    }

    #[tokio::test]
    async fn splice_idle_timeout_after_traffic_closes_both() {
        let (mut client, mut backend, task) =
            through_gateway(Path::Splice, Some(Duration::from_millis(100))).await;
        client.write_all(b"hello").await.expect("write");
        let mut five = [0u8; 5];
        backend.read_exact(&mut five).await.expect("delivered");
        assert_eq!(&five, b"hello");
        // Then nothing either way: the idle watch ends the connection.
        let totals = task.await.expect("join").expect("forward ok");
        assert_eq!(
            totals,
            Totals {
                to_backend: 5,
                to_client: 0,
                end: End::Idle
            }
        );
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.expect("client EOF"), 0);
        assert_eq!(
            backend.read_to_end(&mut rest).await.expect("backend EOF"),
            0
        );
    }

    async fn peer_reset_ends_forwarding(path: Path) {
        let (client, mut backend, task) = through_gateway(path, None).await;
        // Linger zero: closing sends RST instead of FIN.
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(client);
        let err = task
            .await
            .expect("join")
            .expect_err("a reset is an error, not an end of stream");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        // The gateway let go of the backend connection.
        let mut rest = Vec::new();
        let closed = backend.read_to_end(&mut rest).await;
        assert!(
            matches!(closed, Ok(0)) || closed.is_err(),
            "backend sees the close, got {closed:?}"
        );
    }

    #[tokio::test]
    async fn splice_peer_reset_ends_with_an_error() {
        peer_reset_ends_forwarding(Path::Splice).await;
    }

    #[tokio::test]
    async fn copy_loop_peer_reset_ends_with_an_error() {
        peer_reset_ends_forwarding(Path::Copy).await;
    }

    #[tokio::test]
    async fn a_burst_is_delivered_then_the_pipe_is_given_back_and_eof_passed_on() {
        const LEN: usize = 1024 * 1024;
        let (mut client, client_side) = pair().await;
        let (backend_side, mut backend) = pair().await;
        let data = pattern(3, LEN);
        let expected = checksum(&data);
        let mut pump = Pump::new(
            client_side,
            backend_side,
            Vec::new(),
            None,
            Metrics::default().listener("t"),
            Path::Splice,
        );
        let writer = tokio::spawn(async move {
            client.write_all(&data).await.expect("send");
            client
        });
        let mut got = vec![0u8; LEN];
        tokio::select! {
            ended = &mut pump => panic!("the pump ended early: {ended:?}"),
            read = backend.read_exact(&mut got) => { read.expect("receive"); }
        }
        assert_eq!(checksum(&got), expected, "bytes intact");
        assert_eq!(pump.totals(), (LEN as u64, 0));
        // Polled again with nothing more to read, the pump gives its pipe
        // back (the connection is open, so it does not end).
        let settled = tokio::time::timeout(Duration::from_millis(50), &mut pump).await;
        assert!(settled.is_err(), "still forwarding: {settled:?}");
        assert!(!pump.holds_pipe(), "an idle connection holds no pipe");
        // End of stream is passed on as a half-close.
        drop(writer.await.expect("writer"));
        let mut rest = Vec::new();
        tokio::select! {
            ended = &mut pump => panic!("the pump ended early: {ended:?}"),
            read = backend.read_to_end(&mut rest) => assert_eq!(read.expect("EOF"), 0),
        }
    }

    #[test]
    fn einval_and_enosys_mean_unsupported_others_do_not() {
        use rustix::io::Errno;
        for errno in [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP] {
            assert!(unsupported(&io::Error::from(errno)), "{errno:?}");
        }
        for errno in [Errno::CONNRESET, Errno::PIPE, Errno::AGAIN] {
            assert!(!unsupported(&io::Error::from(errno)), "{errno:?}");
        }
    }
}
