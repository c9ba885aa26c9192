//! One delivered connection: a byte stream over a smoltcp socket.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use super::peers::PeerLease;
use super::stack::Stack;

/// A TCP connection from an original client address to a local service,
/// opened through the userspace stack (by `TunDelivery::connect`).
///
/// `poll_shutdown` sends FIN once the queued bytes are out (half-close);
/// reading continues until the service closes its side. Dropping the stream
/// closes the connection gracefully.
pub struct TunStream {
    stack: Arc<Stack>,
    handle: SocketHandle,
    /// Set once the service's FIN was read: later reads keep returning EOF.
    read_eof: bool,
    _lease: PeerLease,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for TunStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunStream")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl TunStream {
    pub(crate) fn new(
        stack: Arc<Stack>,
        handle: SocketHandle,
        lease: PeerLease,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            stack,
            handle,
            read_eof: false,
            _lease: lease,
            _permit: permit,
        }
    }

    pub(crate) fn handle(&self) -> SocketHandle {
        self.handle
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset")
}

impl AsyncRead for TunStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read_eof || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let result = self.stack.with_socket(self.handle, |socket| {
            match socket.recv_slice(buf.initialize_unfilled()) {
                Ok(0) => {
                    socket.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                Ok(n) => {
                    buf.advance(n);
                    Poll::Ready(Ok(true))
                }
                Err(tcp::RecvError::Finished) => Poll::Ready(Ok(false)),
                Err(tcp::RecvError::InvalidState) => Poll::Ready(Err(reset_error())),
            }
        });
        match result {
            Poll::Ready(Ok(true)) => {
                // Reading opened the receive window: let the stack announce it.
                self.stack.wake();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(false)) => {
                self.read_eof = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TunStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let result = self.stack.with_socket(self.handle, |socket| {
            if !socket.may_send() {
                return Poll::Ready(Err(if socket.state() == tcp::State::Closed {
                    reset_error()
                } else {
                    io::Error::new(io::ErrorKind::BrokenPipe, "sending side is closed")
                }));
            }
            match socket.send_slice(data) {
                Ok(0) => {
                    socket.register_send_waker(cx.waker());
                    Poll::Pending
                }
                Ok(n) => Poll::Ready(Ok(n)),
                Err(tcp::SendError::InvalidState) => Poll::Ready(Err(reset_error())),
            }
        });
        if result.is_ready() {
            self.stack.wake();
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written bytes sit in the socket's send buffer, which the stack
        // drains on its own, like a kernel socket's.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stack.with_socket(self.handle, tcp::Socket::close);
        self.stack.wake();
        Poll::Ready(Ok(()))
    }
}

impl Drop for TunStream {
    fn drop(&mut self) {
        self.stack.release(self.handle);
    }
}
