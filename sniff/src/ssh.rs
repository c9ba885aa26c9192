//! The SSH client's identification line (RFC 4253 section 4.2), which it
//! sends first: `SSH-protoversion-softwareversion [SP comments] CR LF`.
//!
//! Grammar: exactly `SSH-`, then `2.0-` or `1.99-` (the second: a client
//! that also speaks SSH 1, which servers answer as 2.0), then a software
//! version of one or more printable ASCII bytes without SP, then optionally
//! SP and comments (any bytes but control bytes and DEL), ended by CR LF or a
//! lone LF. The whole line, terminator included, is at most [`MAX_BANNER`]
//! bytes. Other versions (`SSH-1.5-`), an empty software version, a control
//! byte, or a CR not followed by LF are malformed; a line still open at byte
//! [`MAX_BANNER`] is too large. RFC 4253 lets a *server* send other lines
//! before its banner, never a client, so none are accepted here.
//!
//! The software version may contain `-` (JSch sends `SSH-2.0-JSCH-0.1.54`),
//! although the RFC says it should not. The banner carries no name and is
//! forwarded: nothing is consumed.

use crate::types::{Detection, Malformed, Protocol, Verdict};

/// The longest identification line, CR LF included (RFC 4253 section 4.2).
pub(crate) const MAX_BANNER: usize = 255;

/// The fixed start of every SSH identification line.
const PREFIX: &[u8] = b"SSH-";

/// The protocol versions a client may announce, with their closing `-`.
const VERSIONS: [&[u8]; 2] = [b"2.0-", b"1.99-"];

/// Where the scan is in the line.
#[derive(Clone, Copy)]
enum State {
    /// In the protocol version and its closing `-`.
    Version,
    /// In the software version; holds its length so far.
    Software(usize),
    /// In the comments.
    Comments,
}

/// Runs SSH detection over the bytes so far.
pub(crate) fn sniff(buf: &[u8]) -> Verdict {
    let n = buf.len().min(PREFIX.len());
    if buf.get(..n) != PREFIX.get(..n) {
        return Verdict::NotMine;
    }
    let mut state = State::Version;
    for (pos, &b) in buf.iter().enumerate().skip(PREFIX.len()) {
        // `pos` is this byte's index; the LF ends the line at the latest at
        // index MAX_BANNER - 1.
        if pos >= MAX_BANNER {
            return Verdict::TooLarge;
        }
        state = match (state, b) {
            (State::Version, _) => {
                let seen = buf.get(PREFIX.len()..=pos).unwrap_or_default();
                if VERSIONS.contains(&seen) {
                    State::Software(0)
                } else if VERSIONS.iter().any(|v| v.starts_with(seen)) {
                    State::Version
                } else {
                    return Verdict::Malformed(Malformed::SshBanner);
                }
            }
            (State::Software(1..) | State::Comments, b'\r' | b'\n') => {
                return end_of_line(buf, pos, b);
            }
            (State::Software(len), 0x21..=0x7e) => State::Software(len + 1),
            (State::Software(1..), b' ') => State::Comments,
            (State::Comments, _) if b >= 0x20 && b != 0x7f => State::Comments,
            _ => return Verdict::Malformed(Malformed::SshBanner),
        };
    }
    if buf.len() >= MAX_BANNER {
        Verdict::TooLarge
    } else {
        Verdict::Partial
    }
}

/// Finishes the line at its CR or LF at index `pos`.
fn end_of_line(buf: &[u8], pos: usize, b: u8) -> Verdict {
    if b == b'\n' {
        return Verdict::Complete(Box::new(Detection::new(Protocol::Ssh, None)));
    }
    if pos + 1 >= MAX_BANNER {
        return Verdict::TooLarge;
    }
    match buf.get(pos + 1) {
        None => Verdict::Partial,
        Some(b'\n') => Verdict::Complete(Box::new(Detection::new(Protocol::Ssh, None))),
        Some(_) => Verdict::Malformed(Malformed::SshBanner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSH: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

    fn is_ssh(buf: &[u8]) -> bool {
        match sniff(buf) {
            Verdict::Complete(d) => {
                assert_eq!(
                    (d.protocol, d.host, d.port, d.consume),
                    (Protocol::Ssh, None, None, 0)
                );
                true
            }
            _ => false,
        }
    }

    #[test]
    fn banners_of_real_clients() {
        for banner in [
            OPENSSH,
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"SSH-2.0-PuTTY_Release_0.81\r\n",
            b"SSH-2.0-JSCH-0.1.54\r\n",
            b"SSH-2.0-Go\r\n",
            b"SSH-1.99-OpenSSH_3.9p1\r\n",
            b"SSH-2.0-x\n",
            b"SSH-2.0-x comments, with spaces \xc3\xa9\r\n",
        ] {
            assert!(is_ssh(banner), "{:?}", String::from_utf8_lossy(banner));
        }
        // Bytes after the line (the client's KEXINIT) do not matter.
        let mut more = OPENSSH.to_vec();
        more.extend_from_slice(&[0, 0, 5, 0xdc, 0x04, 0x14]);
        assert!(is_ssh(&more));
    }

    #[test]
    fn every_truncation_waits_and_other_bytes_are_not_ssh() {
        for n in 0..OPENSSH.len() {
            assert_eq!(sniff(&OPENSSH[..n]), Verdict::Partial, "{n}");
        }
        for buf in [&b"SSH 2.0"[..], b"ssh-", b"GET /", b"\x16", b"SH-", b"SSX"] {
            assert_eq!(sniff(buf), Verdict::NotMine, "{buf:?}");
        }
    }

    #[test]
    fn malformed_banners() {
        for buf in [
            &b"SSH-1.5-OpenSSH\r\n"[..],
            b"SSH-1.5",
            b"SSH-2.1-x\r\n",
            b"SSH-2.0x",
            b"SSH-20-x\r\n",
            b"SSH-1.9-x\r\n",
            b"SSH-2.0-\r\n",
            b"SSH-2.0- x\r\n",
            b"SSH-2.0-\n",
            b"SSH-2.0-x\ty\r\n",
            b"SSH-2.0-x y\x00\r\n",
            b"SSH-2.0-x y\x7f\r\n",
            b"SSH-2.0-x\xc3\xa9\r\n",
            b"SSH-2.0-x\rx",
            b"SSH-2.0-x\r\r\n",
        ] {
            assert_eq!(
                sniff(buf),
                Verdict::Malformed(Malformed::SshBanner),
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn the_cap_counts_cr_lf() {
        let line = |body: usize, end: &str| {
            let mut l = b"SSH-2.0-".to_vec();
            l.resize(body, b'a');
            l.extend_from_slice(end.as_bytes());
            l
        };
        assert!(is_ssh(&line(253, "\r\n")));
        assert!(is_ssh(&line(254, "\n")));
        assert_eq!(sniff(&line(254, "\r\n")), Verdict::TooLarge);
        assert_eq!(sniff(&line(255, "\n")), Verdict::TooLarge);
        let open = line(MAX_BANNER, "");
        assert_eq!(sniff(&open[..MAX_BANNER - 1]), Verdict::Partial);
        assert_eq!(sniff(&open), Verdict::TooLarge);
        assert_eq!(sniff(&line(300, "")), Verdict::TooLarge);
        // A bad byte inside the cap wins over the cap.
        let mut bad = line(10, "\x01");
        bad.resize(400, b'a');
        assert_eq!(sniff(&bad), Verdict::Malformed(Malformed::SshBanner));
    }

    #[test]
    fn byte_at_a_time_gives_the_same_answer() {
        for buf in [OPENSSH, b"SSH-1.5-x\r\n", b"SSH-2.0-x\rx"] {
            let first = (0..=buf.len())
                .map(|n| sniff(&buf[..n]))
                .find(|v| *v != Verdict::Partial);
            assert_eq!(first, Some(sniff(buf)), "{buf:?}");
        }
    }
}
