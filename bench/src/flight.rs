//! The client's first flight: loading it from a file, and telling from the
//! bytes received so far whether the sink has all of it.

use std::path::Path;

use anyhow::Context as _;

/// Largest first flight accepted, from the file or on the wire. A TLS
/// record carries at most 16 KiB plus its 5-byte header.
pub const FIRST_FLIGHT_MAX: usize = 16 * 1024 + 5;

/// TLS record content type of a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Length of a TLS record header: type, version (2), length (2).
const TLS_RECORD_HEADER: usize = 5;

/// Reads the first flight from `path`: at least one byte, at most
/// [`FIRST_FLIGHT_MAX`].
pub fn load(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("read first flight {}", path.display()))?;
    if bytes.is_empty() || bytes.len() > FIRST_FLIGHT_MAX {
        anyhow::bail!(
            "first flight {} has {} bytes; expected 1..={FIRST_FLIGHT_MAX}",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes)
}

/// How much of a first flight has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlightEnd {
    /// More bytes are needed to know, or to have, the whole flight.
    NeedMore,
    /// The flight is complete; it is this many bytes long (any bytes after
    /// it belong to what follows).
    Complete(usize),
}

/// Where the first flight ends, given the bytes received so far.
///
/// A TLS handshake record ends where its header's length says; anything
/// else is taken as complete as soon as one byte has arrived.
pub fn flight_end(received: &[u8]) -> FlightEnd {
    match received {
        [] => FlightEnd::NeedMore,
        [TLS_HANDSHAKE, _, _, hi, lo, ..] => {
            let end = TLS_RECORD_HEADER + usize::from(u16::from_be_bytes([*hi, *lo]));
            if received.len() >= end {
                FlightEnd::Complete(end)
            } else {
                FlightEnd::NeedMore
            }
        }
        [TLS_HANDSHAKE, ..] => FlightEnd::NeedMore,
        _ => FlightEnd::Complete(received.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS_HELLO: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sniff/corpus/curl_tls_h2.bin"
    );

    #[test]
    fn corpus_hello_is_complete_only_at_its_record_end() {
        let hello = load(Path::new(CORPUS_HELLO)).unwrap();
        assert_eq!(flight_end(&hello), FlightEnd::Complete(hello.len()));
        for cut in 0..hello.len() {
            assert_eq!(
                flight_end(&hello[..cut]),
                FlightEnd::NeedMore,
                "prefix of {cut} bytes"
            );
        }
        let mut longer = hello.clone();
        longer.extend_from_slice(b"next");
        assert_eq!(flight_end(&longer), FlightEnd::Complete(hello.len()));
    }

    #[test]
    fn non_tls_bytes_are_complete_at_once() {
        assert_eq!(flight_end(b"GET / HTTP/1.1\r\n"), FlightEnd::Complete(16));
        assert_eq!(flight_end(b""), FlightEnd::NeedMore);
    }

    #[test]
    fn empty_or_oversized_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("portico-bench-flight-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        assert!(load(&empty).is_err());
        let big = dir.join("big.bin");
        std::fs::write(&big, vec![0_u8; FIRST_FLIGHT_MAX + 1]).unwrap();
        assert!(load(&big).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
