//! Reads a local byte stream (a TCP connection) in owned [`Bytes`] chunks
//! for a link stream's send buffer, so that relaying a byte costs no copy
//! between the read and the link stream. The buffer exists only while
//! bytes flow: it is freed whenever the source has nothing to read, so an
//! idle connection holds none.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Cuts what a stream delivers into chunks that own their bytes (hand them
/// to [`quinn::SendStream::write_chunk`]).
///
/// Reads go into blocks of `block` bytes. A read of at least a quarter of a
/// block is split off without a copy and the rest of the block takes the
/// next read; a smaller read is copied out, so that a chunk never keeps
/// alive a block more than four times its size while it waits in the
/// send buffer.
#[derive(Debug)]
pub struct ChunkReader {
    block: usize,
    buf: BytesMut,
}

impl ChunkReader {
    /// A reader with blocks of `block` bytes (at least 1); nothing is
    /// allocated until bytes arrive.
    pub fn new(block: usize) -> Self {
        ChunkReader {
            block: block.max(1),
            buf: BytesMut::new(),
        }
    }

    /// The next chunk read from `from`, or `None` at its end of stream.
    ///
    /// Cancel safety: cancelling loses nothing (a read either completes
    /// within one poll or reads nothing).
    pub async fn next<R>(&mut self, from: &mut R) -> io::Result<Option<Bytes>>
    where
        R: AsyncRead + Unpin,
    {
        let read = poll_fn(|cx| {
            if self.buf.capacity().saturating_sub(self.buf.len()) < self.block.div_ceil(2) {
                self.buf.reserve(self.block);
            }
            let polled = pin!(from.read_buf(&mut self.buf)).poll(cx);
            if polled.is_pending() {
                // Nothing to read: no buffer while waiting.
                self.buf = BytesMut::new();
            }
            polled
        })
        .await?;
        if read == 0 {
            self.buf = BytesMut::new();
            return Ok(None);
        }
        let chunk = if read >= self.block.div_ceil(4) {
            self.buf.split().freeze()
        } else {
            let small = Bytes::copy_from_slice(&self.buf);
            self.buf.clear();
            small
        };
        Ok(Some(chunk))
    }

    /// Bytes of buffer held now (0 while idle; checked by the tests).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn chunks_carry_every_byte_in_order_then_end() {
        let (mut writer, mut reader) = tokio::io::duplex(64 * 1024);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let write = tokio::spawn(async move {
            for piece in sent.chunks(7_001) {
                writer.write_all(piece).await.expect("write");
            }
        });
        let mut chunks = ChunkReader::new(16 * 1024);
        let mut got = Vec::new();
        while let Some(chunk) = chunks.next(&mut reader).await.expect("read") {
            assert!(!chunk.is_empty());
            assert!(chunk.len() <= 16 * 1024);
            got.extend_from_slice(&chunk);
        }
        write.await.expect("writer");
        assert_eq!(got, data);
        assert_eq!(chunks.held(), 0);
    }

    #[tokio::test]
    async fn no_buffer_is_held_while_waiting() {
        let (mut writer, mut reader) = tokio::io::duplex(1024);
        let mut chunks = ChunkReader::new(32 * 1024);
        assert_eq!(chunks.held(), 0);
        // Nothing to read yet: the read waits, and holds no buffer meanwhile.
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            chunks.next(&mut reader),
        )
        .await;
        assert!(waited.is_err());
        assert_eq!(chunks.held(), 0);
        writer.write_all(b"hello").await.expect("write");
        let chunk = chunks.next(&mut reader).await.expect("read");
        assert_eq!(chunk.as_deref(), Some(&b"hello"[..]));
    }

    #[tokio::test]
    async fn a_large_read_is_split_off_and_a_small_one_copied() {
        let (mut writer, mut reader) = tokio::io::duplex(64 * 1024);
        let mut chunks = ChunkReader::new(4096);
        writer.write_all(&[1u8; 4096]).await.expect("write");
        let big = chunks
            .next(&mut reader)
            .await
            .expect("read")
            .expect("chunk");
        assert_eq!(big.len(), 4096);
        writer.write_all(&[2u8; 10]).await.expect("write");
        let small = chunks
            .next(&mut reader)
            .await
            .expect("read")
            .expect("chunk");
        assert_eq!(&small[..], &[2u8; 10]);
        // The small read was copied out; its block stays for the next read.
        assert!(chunks.held() >= 4096 / 2);
    }
}
