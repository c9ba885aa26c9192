//! Listening sockets and their accept loops: `[::]` binds take IPv4 too,
//! peers are normalised (`::ffff:a.b.c.d` is IPv4), and resource errors
//! (EMFILE, ENFILE, ENOBUFS, …) back off instead of crashing or spinning.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Listen backlog of every listener.
pub const BACKLOG: i32 = 1024;
/// First pause after a failed `accept`.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause after repeated failed `accept`s.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// `::ffff:a.b.c.d` becomes `a.b.c.d`; other addresses are unchanged.
pub(crate) fn normalise(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Binds a listening socket: `SO_REUSEADDR`, dual-stack for an unspecified
/// IPv6 address, backlog [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if let SocketAddr::V6(v6) = addr
        && v6.ip().is_unspecified()
    {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Whether an `accept` error concerns only the connection being accepted
/// (retry at once) rather than the process or system (back off).
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Accepts until `cancel` fires, handing each connection (peer normalised)
/// to `on_accept`. Errors are counted; resource errors are logged once per
/// burst and back off from [`ACCEPT_BACKOFF_MIN`] doubling to
/// [`ACCEPT_BACKOFF_MAX`].
pub async fn accept_loop<F>(
    listener: TcpListener,
    name: &str,
    metrics: &Metrics,
    cancel: CancellationToken,
    mut on_accept: F,
) where
    F: FnMut(TcpStream, SocketAddr),
{
    let mut backoff: Option<Duration> = None;
    loop {
        // Biased: once cancelled, nothing more is accepted even if a
        // connection is already waiting.
        let accepted = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if backoff.take().is_some() {
                    tracing::info!(listener = name, "accepting again");
                }
                on_accept(stream, normalise(peer));
            }
            Err(err) if is_per_connection(&err) => {
                metrics.count_accept_error();
                tracing::debug!(listener = name, error = %err, "accept failed for one connection");
            }
            Err(err) => {
                metrics.count_accept_error();
                let pause = match backoff {
                    None => {
                        tracing::warn!(listener = name, error = %err, "accept failing; backing off");
                        ACCEPT_BACKOFF_MIN
                    }
                    Some(previous) => (previous * 2).min(ACCEPT_BACKOFF_MAX),
                };
                backoff = Some(pause);
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped = SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped()),
            443,
        );
        assert_eq!(
            normalise(mapped),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 443)
        );
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 443);
        assert_eq!(normalise(v6), v6);
    }

    #[tokio::test]
    async fn dual_stack_bind_accepts_ipv4_as_ipv4() {
        let std_listener = match bind("[::]:0".parse().expect("addr")) {
            Ok(l) => l,
            Err(err) => {
                panic!("binding [::]:0 failed ({err}); this test needs IPv6 enabled on loopback")
            }
        };
        let port = std_listener.local_addr().expect("addr").port();
        let listener = TcpListener::from_std(std_listener).expect("tokio listener");
        let metrics = Metrics::default();
        let cancel = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            accept_loop(listener, "t", &metrics, stop, move |_stream, peer| {
                let _ = tx.send(peer);
            })
            .await;
        });
        let _client = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect over IPv4");
        let peer = rx.recv().await.expect("a peer");
        assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        cancel.cancel();
        task.await.expect("accept loop ends on cancel");
    }
}
