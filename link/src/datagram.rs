//! UDP datagrams on a link stream: a flow's datagrams, both ways, each
//! framed as a 2-byte big-endian length and its bytes. The stream carries
//! the flow in order and without loss; its end is the flow's end.
//! [`encode`] and [`decode`] are sans-IO; [`write`] and [`read`] are the
//! thin async layer over a QUIC stream.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_partial_frames_wait() {
        let mut buf = Vec::new();
        encode(b"hello", &mut buf).expect("short");
        encode(b"", &mut buf).expect("empty");
        assert_eq!(decode(&buf), Some((&b"hello"[..], 7)));
        assert_eq!(decode(&buf[7..]), Some((&b""[..], 2)));
        for cut in 0..7 {
            assert_eq!(decode(&buf[..cut]), None, "cut at {cut}");
        }
        let big = vec![0u8; MAX_DATAGRAM + 1];
        assert_eq!(
            encode(&big, &mut Vec::new()),
            Err(DatagramError::TooLong(MAX_DATAGRAM + 1))
        );
    }
}

use bytes::BufMut;
use quinn::{ReadExactError, RecvStream, SendStream, WriteError};

/// The largest datagram a frame carries (its length field's range).
pub const MAX_DATAGRAM: usize = u16::MAX as usize;

/// Bytes before each datagram: its length.
const LENGTH_LEN: usize = 2;

/// Why a datagram could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// Longer than [`MAX_DATAGRAM`].
    #[error("a datagram of {0} bytes is over the {MAX_DATAGRAM}-byte frame limit")]
    TooLong(usize),
}

/// Writes one frame for `datagram` to `buf`.
pub fn encode(datagram: &[u8], buf: &mut impl BufMut) -> Result<(), DatagramError> {
    let len = u16::try_from(datagram.len()).map_err(|_| DatagramError::TooLong(datagram.len()))?;
    buf.put_u16(len);
    buf.put_slice(datagram);
    Ok(())
}

/// The first whole frame at the front of `buf`: the datagram and the
/// bytes the frame takes; `None` while it is incomplete.
pub fn decode(buf: &[u8]) -> Option<(&[u8], usize)> {
    let (len, rest) = buf.split_first_chunk::<LENGTH_LEN>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let datagram = rest.get(..len)?;
    Some((datagram, LENGTH_LEN + len))
}

/// Sends `datagram` as one frame on `send`.
pub async fn write(send: &mut SendStream, datagram: &[u8]) -> Result<(), WriteError> {
    let len = u16::try_from(datagram.len()).unwrap_or(u16::MAX);
    let taken = datagram.get(..usize::from(len)).unwrap_or_default();
    send.write_all(&len.to_be_bytes()).await?;
    send.write_all(taken).await
}

/// Reads the next frame from `recv` into `buf` (resized to fit); `Ok(None)`
/// when the stream ended cleanly between frames.
pub async fn read(
    recv: &mut RecvStream,
    buf: &mut Vec<u8>,
) -> Result<Option<usize>, ReadExactError> {
    let mut len = [0u8; LENGTH_LEN];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::from(u16::from_be_bytes(len));
    buf.resize(len, 0);
    recv.read_exact(buf).await?;
    Ok(Some(len))
}
