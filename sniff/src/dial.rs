//! The dial line: `DIAL host[:port]` ended by CRLF or a lone LF, for clients
//! whose protocol cannot carry a hostname.
//!
//! Grammar: exactly `DIAL` (upper case) and one SP, then an authority —
//! `name`, `name:port`, `[v6]` or `[v6]:port` — then `\r\n` or `\n`. The whole
//! line, terminator included, is at most [`MAX_LINE`] bytes of ASCII. The name
//! follows [`crate::hostname`]; the port is 1–65535 in decimal. The line is
//! consumed ([`crate::Detection::consume`] is its length) and the port is
//! reported in [`crate::Detection::port`].
//!
//! The line is checked byte by byte as it arrives: a space, control byte or
//! non-ASCII byte is malformed at once, a line still open at byte
//! [`MAX_LINE`] is too large, a CR not followed by LF is malformed.

use crate::authority::{self, EmptyPort};
use crate::types::{Detection, Malformed, Protocol, Verdict};

/// The longest dial line accepted, in bytes, including `DIAL `, the port and
/// the line end. It holds any valid name without a port (5 + 253 + 2 = 260
/// bytes with CRLF), and names up to 249 bytes with a five-digit port and
/// CRLF. `Limits::max_peek` counts it, so a caller's peek buffer holds it.
pub(crate) const MAX_LINE: usize = 262;

/// The fixed start of a dial line.
const PREFIX: &[u8] = b"DIAL ";

/// Whether `buf` starts (so far) like a dial line: it is a prefix of `DIAL `
/// or starts with it.
pub(crate) fn could_be_dial(buf: &[u8]) -> bool {
    let n = buf.len().min(PREFIX.len());
    buf.get(..n) == PREFIX.get(..n)
}

/// Runs dial detection over the bytes so far.
pub(crate) fn sniff(buf: &[u8]) -> Verdict {
    if !could_be_dial(buf) {
        return Verdict::NotMine;
    }
    let Some(rest) = buf.get(PREFIX.len()..) else {
        return Verdict::Partial;
    };
    for (i, &b) in rest.iter().enumerate() {
        let pos = PREFIX.len() + i;
        // `pos` is the index of this byte; the line ends at the latest at
        // index MAX_LINE - 1.
        if pos >= MAX_LINE {
            return Verdict::TooLarge;
        }
        match b {
            b'\n' => return finish(rest.get(..i).unwrap_or_default(), pos + 1),
            b'\r' => {
                if pos + 1 >= MAX_LINE {
                    return Verdict::TooLarge;
                }
                return match rest.get(i + 1) {
                    None => Verdict::Partial,
                    Some(b'\n') => finish(rest.get(..i).unwrap_or_default(), pos + 2),
                    Some(_) => Verdict::Malformed(Malformed::Dial),
                };
            }
            0x21..=0x7e => {}
            _ => return Verdict::Malformed(Malformed::Dial),
        }
    }
    if buf.len() >= MAX_LINE {
        Verdict::TooLarge
    } else {
        Verdict::Partial
    }
}

/// Validates the authority of a complete line of `len` bytes.
fn finish(raw: &[u8], len: usize) -> Verdict {
    match authority::parse(raw, EmptyPort::Rejected) {
        Ok(a) if a.port != Some(0) => {
            let mut found = Detection::new(Protocol::Dial, Some(a.host));
            found.port = a.port;
            found.consume = len;
            Verdict::Complete(Box::new(found))
        }
        _ => Verdict::Malformed(Malformed::Dial),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hostname;

    fn complete(buf: &[u8]) -> Detection {
        match sniff(buf) {
            Verdict::Complete(d) => *d,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn dial_lines_with_and_without_port() {
        let d = complete(b"DIAL Example.org\r\nSSH-2.0-x\r\n");
        assert_eq!(d.protocol, Protocol::Dial);
        assert_eq!(d.host, Hostname::parse(b"example.org").ok());
        assert_eq!(d.port, None);
        assert_eq!(d.consume, 18);
        let d = complete(b"DIAL host.example:2222\n");
        assert_eq!(d.port, Some(2222));
        assert_eq!(d.consume, 23);
        let d = complete(b"DIAL [2001:db8::1]:22\r\n");
        assert_eq!(d.host.as_ref().map(Hostname::as_str), Some("2001:db8::1"));
        assert_eq!(d.port, Some(22));
        let d = complete(b"DIAL 192.0.2.7\n");
        assert_eq!(d.host.as_ref().map(Hostname::as_str), Some("192.0.2.7"));
    }

    #[test]
    fn prefixes_wait_and_other_bytes_are_not_dial() {
        for p in [
            &b""[..],
            b"D",
            b"DIA",
            b"DIAL",
            b"DIAL ",
            b"DIAL host",
            b"DIAL host\r",
        ] {
            assert_eq!(sniff(p), Verdict::Partial, "{p:?}");
        }
        for p in [
            &b"DE"[..],
            b"DELETE / HTTP/1.1\r\n",
            b"dial host\n",
            b"DIAL\thost\n",
            b"GET",
        ] {
            assert_eq!(sniff(p), Verdict::NotMine, "{p:?}");
        }
    }

    #[test]
    fn malformed_lines() {
        let bad: [&[u8]; 12] = [
            b"DIAL \n",
            b"DIAL  host\n",
            b"DIAL host extra\n",
            b"DIAL h\xc3\xa9\n",
            b"DIAL host\rx",
            b"DIAL host:\n",
            b"DIAL host:0\n",
            b"DIAL host:65536\n",
            b"DIAL 2001:db8::1\n",
            b"DIAL [2001:db8::1\n",
            b"DIAL under_score.example\n",
            b"DIAL host\x00",
        ];
        for line in bad {
            assert_eq!(sniff(line), Verdict::Malformed(Malformed::Dial), "{line:?}");
        }
    }

    #[test]
    fn line_length_cap_includes_the_terminator() {
        // A 256-byte name is never valid, but the cap applies first.
        let name = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(57)
        );
        let line = format!("DIAL {name}:65535\r\n");
        assert_eq!(line.len(), MAX_LINE);
        assert_eq!(complete(line.as_bytes()).consume, MAX_LINE);
        let lf = format!("DIAL {name}:65535\n");
        assert_eq!(complete(lf.as_bytes()).consume, MAX_LINE - 1);
        // One more byte before CRLF: the LF would be byte 263.
        let long = format!("DIAL {name}:655350\r\n");
        assert_eq!(sniff(long.as_bytes()), Verdict::TooLarge);
        let open = vec![b'a'; MAX_LINE];
        let mut open_line = b"DIAL ".to_vec();
        open_line.extend_from_slice(&open);
        assert_eq!(sniff(&open_line[..MAX_LINE - 1]), Verdict::Partial);
        assert_eq!(sniff(&open_line[..MAX_LINE]), Verdict::TooLarge);
        // A bad byte inside the cap wins over the cap, at any length.
        let mut bad = b"DIAL a b".to_vec();
        bad.extend_from_slice(&open);
        assert_eq!(sniff(&bad), Verdict::Malformed(Malformed::Dial));
    }

    #[test]
    fn byte_at_a_time_gives_the_same_answer() {
        let line = b"DIAL [::1]:8022\r\nrest";
        let full = sniff(line);
        let first = (0..=line.len())
            .map(|n| sniff(&line[..n]))
            .find(|v| *v != Verdict::Partial);
        assert_eq!(first, Some(full));
    }
}
