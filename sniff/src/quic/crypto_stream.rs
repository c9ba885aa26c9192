//! The Initial CRYPTO stream, reassembled by offset from frames that may
//! arrive out of order, duplicated or overlapping, into a capped buffer.

use super::QuicError;

/// The bytes of the CRYPTO stream received so far, with a map of which
/// offsets have arrived.
#[derive(Debug, Clone, Default)]
pub(crate) struct CryptoStream {
    /// Stream bytes by offset; bytes not yet received are zero.
    data: Vec<u8>,
    /// Which offsets of `data` have arrived.
    filled: Vec<bool>,
    /// How many leading bytes have all arrived.
    contiguous: usize,
    /// The largest stream end accepted.
    cap: usize,
}

impl CryptoStream {
    /// An empty stream that accepts data up to offset `cap`.
    pub(crate) fn new(cap: usize) -> CryptoStream {
        CryptoStream {
            cap,
            ..CryptoStream::default()
        }
    }

    /// Adds the bytes `data` found at stream `offset`.
    ///
    /// Errors: [`QuicError::TooLarge`] when they end past the cap,
    /// [`QuicError::CryptoMismatch`] when they disagree with bytes already
    /// received at the same offsets (so no order of arrival can change what
    /// the stream says).
    pub(crate) fn insert(&mut self, offset: u64, data: &[u8]) -> Result<(), QuicError> {
        let start = usize::try_from(offset).map_err(|_| QuicError::TooLarge)?;
        let end = start.checked_add(data.len()).ok_or(QuicError::TooLarge)?;
        if end > self.cap {
            return Err(QuicError::TooLarge);
        }
        if end > self.data.len() {
            self.data.resize(end, 0);
            self.filled.resize(end, false);
        }
        let (Some(dst), Some(seen)) = (
            self.data.get_mut(start..end),
            self.filled.get_mut(start..end),
        ) else {
            return Err(QuicError::TooLarge);
        };
        for ((d, s), &byte) in dst.iter_mut().zip(seen.iter_mut()).zip(data) {
            if *s && *d != byte {
                return Err(QuicError::CryptoMismatch);
            }
            *d = byte;
            *s = true;
        }
        while self.filled.get(self.contiguous).copied().unwrap_or(false) {
            self.contiguous += 1;
        }
        Ok(())
    }

    /// The bytes from offset 0 up to the first gap.
    pub(crate) fn contiguous(&self) -> &[u8] {
        self.data.get(..self.contiguous).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_out_of_order_and_duplicates() {
        let mut s = CryptoStream::new(16);
        s.insert(4, b"efgh").unwrap();
        assert_eq!(s.contiguous(), b"");
        s.insert(2, b"cdef").unwrap();
        s.insert(4, b"ef").unwrap();
        assert_eq!(s.contiguous(), b"");
        s.insert(0, b"ab").unwrap();
        assert_eq!(s.contiguous(), b"abcdefgh");
        s.insert(0, b"").unwrap();
        assert_eq!(s.insert(6, b"gX"), Err(QuicError::CryptoMismatch));
        assert_eq!(s.insert(12, b"mnopq"), Err(QuicError::TooLarge));
        assert_eq!(s.insert(u64::MAX, b"q"), Err(QuicError::TooLarge));
        s.insert(8, b"ijklmnop").unwrap();
        assert_eq!(s.contiguous(), b"abcdefghijklmnop");
    }
}
