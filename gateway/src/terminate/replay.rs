//! A stream that first replays bytes already read from it (the peeked
//! ClientHello), then reads on from the stream itself; writes go straight
//! through. Lets the TLS acceptor see the connection from its first byte.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `inner`, with `prefix` read before anything `inner` yields.
#[derive(Debug)]
pub struct Replay<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Replay<S> {
    /// Reads `prefix` first, then from `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.prefix.get(this.pos..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            if let Some(chunk) = rest.get(..n) {
                buf.put_slice(chunk);
                this.pos += n;
            }
            if this.pos >= this.prefix.len() {
                // Replayed in full: free it for the rest of the connection.
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn replays_the_prefix_in_small_reads_then_the_stream() {
        let (mut far, near) = tokio::io::duplex(64);
        let mut replay = Replay::new(b"HELLO".to_vec(), near);
        far.write_all(b" world").await.expect("write");
        drop(far);
        let mut first = [0u8; 3];
        assert_eq!(replay.read(&mut first).await.expect("read"), 3);
        assert_eq!(&first, b"HEL");
        let mut rest = Vec::new();
        replay.read_to_end(&mut rest).await.expect("rest");
        assert_eq!(rest, b"LO world");
    }

    #[tokio::test]
    async fn writes_go_to_the_stream() {
        let (mut far, near) = tokio::io::duplex(64);
        let mut replay = Replay::new(b"x".to_vec(), near);
        replay.write_all(b"answer").await.expect("write");
        replay.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"answer");
    }
}
