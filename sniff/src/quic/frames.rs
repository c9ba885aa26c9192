//! The frames of a decrypted Initial packet (RFC 9000 §12.4, §19): PADDING,
//! PING, ACK, CRYPTO and CONNECTION_CLOSE are the only ones allowed there.

use super::QuicError;
use super::header::Reader;

/// Frame type PADDING.
const PADDING: u64 = 0x00;
/// Frame type PING.
const PING: u64 = 0x01;
/// Frame type ACK.
const ACK: u64 = 0x02;
/// Frame type ACK with ECN counts.
const ACK_ECN: u64 = 0x03;
/// Frame type CRYPTO.
const CRYPTO: u64 = 0x06;
/// Frame type CONNECTION_CLOSE for QUIC-layer errors (0x1d, the
/// application variant, is not allowed in Initial packets).
const CONNECTION_CLOSE: u64 = 0x1c;
/// The largest end of stream data, offset plus length (RFC 9000 §19.6).
const MAX_OFFSET: u64 = (1 << 62) - 1;

/// A frame of an Initial packet, as far as the sniffer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// One or more PADDING bytes, or a PING: nothing to do.
    Ignored,
    /// An ACK, checked for framing and skipped.
    Ack,
    /// CRYPTO data at `offset` of the Initial crypto stream.
    Crypto {
        /// The stream offset of `data`'s first byte.
        offset: u64,
        /// The stream bytes.
        data: &'a [u8],
    },
    /// CONNECTION_CLOSE: the client gave up.
    ConnectionClose,
}

/// Iterates over the frames of a decrypted payload; a frame that is
/// truncated, malformed or not allowed in an Initial packet ends the
/// iteration with [`QuicError::Frame`].
#[derive(Debug, Clone)]
pub(crate) struct Frames<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// The frames of `payload`.
    pub(crate) fn new(payload: &'a [u8]) -> Frames<'a> {
        Frames {
            reader: Reader::new(payload),
            failed: false,
        }
    }

    /// Reads the frame at the cursor.
    fn frame(&mut self) -> Option<Frame<'a>> {
        let r = &mut self.reader;
        match r.varint()? {
            PADDING => {
                // A run of padding is read at once: Initial packets often
                // carry a thousand bytes of it.
                while let Some(rest) = r.peek() {
                    if rest != 0 {
                        break;
                    }
                    r.u8()?;
                }
                Some(Frame::Ignored)
            }
            PING => Some(Frame::Ignored),
            kind @ (ACK | ACK_ECN) => {
                r.varint()?; // Largest Acknowledged
                r.varint()?; // ACK Delay
                let ranges = r.varint()?;
                r.varint()?; // First ACK Range
                for _ in 0..ranges {
                    // Each range takes at least two bytes: a long count
                    // ends at the end of the payload.
                    r.varint()?; // Gap
                    r.varint()?; // ACK Range Length
                }
                if kind == ACK_ECN {
                    for _ in 0..3 {
                        r.varint()?;
                    }
                }
                Some(Frame::Ack)
            }
            CRYPTO => {
                let offset = r.varint()?;
                let len = r.varint()?;
                if offset.checked_add(len)? > MAX_OFFSET {
                    return None;
                }
                let data = r.bytes(usize::try_from(len).ok()?)?;
                Some(Frame::Crypto { offset, data })
            }
            CONNECTION_CLOSE => {
                r.varint()?; // Error Code
                r.varint()?; // Frame Type
                let len = r.varint()?;
                r.bytes(usize::try_from(len).ok()?)?;
                Some(Frame::ConnectionClose)
            }
            _ => None,
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, QuicError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        match self.frame() {
            Some(frame) => Some(Ok(frame)),
            None => {
                self.failed = true;
                Some(Err(QuicError::Frame))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payload: &[u8]) -> Vec<Result<Frame<'_>, QuicError>> {
        Frames::new(payload).collect()
    }

    #[test]
    fn reads_the_initial_frame_types() {
        let payload = [
            0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02, // ACK, one extra range
            0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, // ACK_ECN
            0x01, // PING
            0x06, 0x00, 0x03, b'a', b'b', b'c', // CRYPTO
            0x1c, 0x0a, 0x06, 0x02, b'n', b'o', // CONNECTION_CLOSE
            0x00, 0x00, 0x00, // PADDING
        ];
        assert_eq!(
            frames(&payload),
            [
                Ok(Frame::Ack),
                Ok(Frame::Ack),
                Ok(Frame::Ignored),
                Ok(Frame::Crypto {
                    offset: 0,
                    data: b"abc"
                }),
                Ok(Frame::ConnectionClose),
                Ok(Frame::Ignored),
            ]
        );
    }

    #[test]
    fn other_frame_types_and_truncation_are_errors() {
        // STREAM, NEW_TOKEN, application CONNECTION_CLOSE, HANDSHAKE_DONE.
        for kind in [0x08u8, 0x07, 0x1d, 0x1e, 0x1f] {
            assert_eq!(frames(&[kind, 0, 0, 0]), [Err(QuicError::Frame)]);
        }
        assert_eq!(frames(&[0x06, 0x00, 0x04, b'a']), [Err(QuicError::Frame)]);
        assert_eq!(
            frames(&[0x02, 0x00, 0x00, 0x05, 0x00]),
            [Err(QuicError::Frame)]
        );
        // Offset plus length past 2^62.
        let far = [0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            frames(&[&far[..], &[0x01, b'x']].concat()),
            [Err(QuicError::Frame)]
        );
        assert!(
            frames(&[&far[..], &[0x00]].concat())
                .iter()
                .all(Result::is_ok)
        );
    }
}
