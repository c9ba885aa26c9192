//! Unit tests for combining the detectors.

use super::*;
use crate::types::Malformed;

const TLS: &[u8] = include_bytes!("../tls/curl_client_hello.bin");
const HTTP: &[u8] = b"GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n";
const XMPP: &[u8] = b"<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
const DIAL: &[u8] = b"DIAL nas.example.org:22\r\nSSH-2.0-OpenSSH_9.6\r\n";
const SSH: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
const CONNECT: &[u8] = b"CONNECT nas.example.org:22 HTTP/1.1\r\nHost: nas.example.org:22\r\n\
Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n";
const SOCKS5: &[u8] = &[0x05, 0x02, 0x00, 0x02];

fn all(buf: &[u8]) -> Result<Status<Detection>, Error> {
    detect(buf, ProtocolSet::NAMED, &Limits::default())
}

fn found(buf: &[u8], enabled: ProtocolSet) -> (Protocol, Option<String>) {
    match detect(buf, enabled, &Limits::default()) {
        Ok(Status::Complete(d)) => (d.protocol, d.host.map(|h| h.to_string())),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// The answer after feeding `buf` in `step`-byte reads, stopping at the
/// first answer that is not Partial, as a gateway would.
fn fed(buf: &[u8], step: usize, enabled: ProtocolSet) -> Result<Status<Detection>, Error> {
    let mut end = 0;
    loop {
        end = (end + step).min(buf.len());
        let answer = detect(&buf[..end], enabled, &Limits::default());
        if answer != Ok(Status::Partial) || end == buf.len() {
            return answer;
        }
    }
}

#[test]
fn each_protocol_among_all() {
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        found(TLS, ProtocolSet::NAMED),
        (Protocol::Tls, some("example.org"))
    );
    assert_eq!(
        found(HTTP, ProtocolSet::NAMED),
        (Protocol::Http, some("www.example.org"))
    );
    assert_eq!(
        found(XMPP, ProtocolSet::NAMED),
        (Protocol::Xmpp, some("example.org"))
    );
    assert_eq!(
        found(DIAL, ProtocolSet::NAMED),
        (Protocol::Dial, some("nas.example.org"))
    );
    match all(DIAL) {
        Ok(Status::Complete(d)) => assert_eq!((d.consume, d.port), (25, Some(22))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn disabled_protocols_are_no_match() {
    for (buf, p) in [
        (TLS, Protocol::Tls),
        (HTTP, Protocol::Http),
        (XMPP, Protocol::Xmpp),
        (DIAL, Protocol::Dial),
    ] {
        let others = ProtocolSet::NAMED.without(p);
        assert_eq!(
            detect(buf, others, &Limits::default()),
            Err(Error::NoMatch),
            "{p}"
        );
        assert_eq!(found(buf, ProtocolSet::only(p)).0, p);
    }
    assert_eq!(
        detect(HTTP, ProtocolSet::EMPTY, &Limits::default()),
        Err(Error::NoMatch)
    );
    assert_eq!(
        detect(b"", ProtocolSet::EMPTY, &Limits::default()),
        Err(Error::NoMatch)
    );
    assert_eq!(all(b""), Ok(Status::Partial));
}

#[test]
fn dial_and_http_share_a_first_byte() {
    let http_only = ProtocolSet::only(Protocol::Http);
    let both = http_only.with(Protocol::Dial);
    // "D" could be either; "DE" only HTTP; "DIAL " only dial.
    assert_eq!(detect(b"D", both, &Limits::default()), Ok(Status::Partial));
    assert_eq!(
        detect(b"DE", ProtocolSet::only(Protocol::Dial), &Limits::default()),
        Err(Error::NoMatch)
    );
    assert_eq!(
        found(b"DELETE /x HTTP/1.1\r\nHost: a.example\r\n\r\n", both).0,
        Protocol::Http
    );
    // A dial line is never malformed HTTP, even with dial disabled.
    assert_eq!(
        detect(b"DIAL a.example\n", http_only, &Limits::default()),
        Err(Error::NoMatch)
    );
    // A bad dial line is malformed dial, not HTTP.
    assert_eq!(
        detect(b"DIAL a b\n", both, &Limits::default()),
        Err(Error::Malformed {
            protocol: Protocol::Dial,
            reason: Malformed::Dial
        })
    );
    // An unknown method token is HTTP only with the `target SP HTTP/` shape.
    assert_eq!(
        detect(b"DIALX a.example\n", both, &Limits::default()),
        Err(Error::NoMatch)
    );
}

#[test]
fn nothing_matches() {
    for buf in [
        &b"\x00"[..],
        b"SSH",
        b"\x80\x2e",
        b"  x",
        b"\xef\xbb\xbf<",
        b"PROXY TCP4",
    ] {
        let answer = detect(
            buf,
            ProtocolSet::NAMED.without(Protocol::Http),
            &Limits::default(),
        );
        assert_eq!(answer, Err(Error::NoMatch), "{buf:?}");
    }
    assert_eq!(all(b"\x00"), Err(Error::NoMatch));
    assert_eq!(all(b"GET\x00"), Err(Error::NoMatch));
}

#[test]
fn errors_name_their_protocol() {
    let limits = Limits {
        xmpp_head: 16,
        ..Limits::default()
    };
    assert_eq!(
        detect(XMPP, ProtocolSet::NAMED, &limits),
        Err(Error::TooLarge {
            protocol: Protocol::Xmpp
        })
    );
    assert_eq!(
        all(b"\x16\x03\x01\x00\x00"),
        Err(Error::Malformed {
            protocol: Protocol::Tls,
            reason: Malformed::TlsRecord
        })
    );
    assert_eq!(
        all(b"GET / HTTP/1.1\r\n\r\n"),
        Err(Error::Malformed {
            protocol: Protocol::Http,
            reason: Malformed::HttpMissingHost
        })
    );
}

#[test]
fn proxy_and_nameless_protocols() {
    let limits = Limits::default();
    let every = |buf: &[u8]| detect(buf, ProtocolSet::ALL, &limits);
    for (buf, p, host, port, consume) in [
        (SSH, Protocol::Ssh, None, None, 0),
        (
            CONNECT,
            Protocol::Connect,
            Some("nas.example.org"),
            Some(22),
            CONNECT.len(),
        ),
        (SOCKS5, Protocol::Socks5, None, None, 4),
    ] {
        match every(buf) {
            Ok(Status::Complete(d)) => {
                assert_eq!(d.protocol, p);
                assert_eq!(d.host.as_ref().map(|h| h.as_str()), host);
                assert_eq!((d.port, d.consume), (port, consume));
                assert_eq!(d.connect.is_some(), p == Protocol::Connect);
                assert_eq!(d.socks5.is_some(), p == Protocol::Socks5);
            }
            other => panic!("{p}: {other:?}"),
        }
        // Disabled: no match, and never another protocol's bytes.
        assert_eq!(
            detect(buf, ProtocolSet::ALL.without(p), &limits),
            Err(Error::NoMatch),
            "{p}"
        );
        assert_eq!(
            detect(buf, ProtocolSet::NAMED, &limits),
            Err(Error::NoMatch),
            "{p}"
        );
    }
    // Other has no detector: enabling it alone matches nothing, even silence.
    for buf in [&b""[..], b"\x00", SSH, HTTP] {
        assert_eq!(
            detect(buf, ProtocolSet::only(Protocol::Other), &limits),
            Err(Error::NoMatch)
        );
    }
    // A CONNECT request is never HTTP, a bad one is malformed connect.
    assert_eq!(
        every(b"CONNECT nas.example.org HTTP/1.1\r\n\r\n"),
        Err(Error::Malformed {
            protocol: Protocol::Connect,
            reason: Malformed::ConnectTarget
        })
    );
    assert_eq!(
        every(b"SSH-1.5-x\r\n"),
        Err(Error::Malformed {
            protocol: Protocol::Ssh,
            reason: Malformed::SshBanner
        })
    );
    assert_eq!(
        every(&[5, 0]),
        Err(Error::Malformed {
            protocol: Protocol::Socks5,
            reason: Malformed::Socks5Greeting
        })
    );
    // An SSH banner shaped like a request line is still not HTTP.
    assert_eq!(
        detect(
            b"SSH-2.0-x / HTTP/1.1\r\n",
            ProtocolSet::only(Protocol::Http),
            &limits
        ),
        Err(Error::NoMatch)
    );
}

#[test]
fn protocol_names_and_sets() {
    for p in Protocol::ALL {
        assert_eq!(Protocol::from_name(p.as_str()), Some(p));
        assert!(ProtocolSet::ALL.contains(p));
        assert_eq!(ProtocolSet::NAMED.contains(p), p <= Protocol::Dial);
    }
    assert_eq!(Protocol::ALL.last(), Some(&Protocol::Other));
    assert_eq!(Protocol::from_name("socks5"), Some(Protocol::Socks5));
    assert_eq!(Protocol::from_name("SSH"), None);
    assert_eq!(ProtocolSet::ALL.iter().count(), 9);
    assert_eq!(ProtocolSet::TCP, ProtocolSet::ALL.without(Protocol::Quic));
    assert!(ProtocolSet::TCP.iter().all(|p| !p.is_udp()));
    assert_eq!(ProtocolSet::NAMED.iter().count(), 4);
    assert_eq!(Protocol::from_name("quic"), Some(Protocol::Quic));
}

#[test]
fn quic_is_never_detected_on_tcp() {
    let limits = Limits::default();
    for sample in [TLS, HTTP, b"\xc0\x00\x00\x00\x01".as_slice()] {
        let answer = detect(sample, ProtocolSet::only(Protocol::Quic), &limits);
        assert_eq!(answer, Err(Error::NoMatch));
    }
}

#[test]
fn answer_does_not_depend_on_read_sizes() {
    let mut samples: Vec<Vec<u8>> = [TLS, HTTP, XMPP, DIAL, SSH, CONNECT, SOCKS5]
        .iter()
        .map(|s| s.to_vec())
        .collect();
    samples.push(b"SSH-2.0-x\ry".to_vec());
    samples.push(b"CONNECT a.example HTTP/1.1\r\n\r\n".to_vec());
    samples.push(vec![5, 0, 1]);
    samples.push(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec());
    samples.push(b"<stream:stream to='a_b'>".to_vec());
    samples.push(b"DIAL bad name\n".to_vec());
    samples.push(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec());
    for sample in &samples {
        for enabled in [
            ProtocolSet::ALL,
            ProtocolSet::NAMED,
            ProtocolSet::only(Protocol::Http).with(Protocol::Dial),
            ProtocolSet::only(Protocol::Http).with(Protocol::Connect),
        ] {
            let whole = detect(sample, enabled, &Limits::default());
            for step in [1, 2, 3, 7, 64] {
                assert_eq!(
                    fed(sample, step, enabled),
                    whole,
                    "{:?} step {step}",
                    String::from_utf8_lossy(sample)
                );
            }
        }
    }
}

#[test]
fn max_peek_holds_every_cap() {
    let limits = Limits::default();
    assert!(limits.max_peek() >= limits.http_head);
    assert!(limits.max_peek() >= limits.xmpp_head);
    assert!(limits.max_peek() >= crate::dial::MAX_LINE);
    assert!(limits.max_peek() >= crate::tls::max_record_bytes(limits.tls_hello));
    let tiny = Limits {
        tls_hello: 1,
        http_head: 1,
        http_headers: 1,
        xmpp_head: 1,
        quic_datagrams: 1,
    };
    assert!(tiny.max_peek() >= crate::ssh::MAX_BANNER);
    assert!(tiny.max_peek() >= crate::socks5::MAX_GREETING);
    // A full buffer of each new protocol's bytes decides.
    for (start, filler) in [
        (&b"SSH-2.0-"[..], b'a'),
        (b"CONNECT ", b'a'),
        (&[5, 255][..], 0),
    ] {
        let mut buf = start.to_vec();
        buf.resize(tiny.max_peek(), filler);
        assert_ne!(
            detect(&buf, ProtocolSet::ALL, &tiny),
            Ok(Status::Partial),
            "{start:?}"
        );
    }
}

/// A small deterministic xorshift generator for mutation tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

#[test]
fn mutated_inputs_never_panic_and_answers_are_prefix_stable() {
    let samples = [
        TLS,
        HTTP,
        XMPP,
        DIAL,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        SSH,
        CONNECT,
        SOCKS5,
    ];
    let interesting = [
        0u8, b' ', b'\r', b'\n', b'<', b'>', b'\'', b':', b'[', b']', 0x16, 0x03, 0xff, 0x05, b'-',
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let limits = Limits {
        tls_hello: 600,
        http_head: 96,
        http_headers: 4,
        xmpp_head: 160,
        quic_datagrams: 1,
    };
    for round in 0..400 {
        let mut buf = samples[round % samples.len()].to_vec();
        for _ in 0..=rng.below(3) {
            let at = rng.below(buf.len());
            match rng.below(4) {
                0 => buf[at] = interesting[rng.below(interesting.len())],
                1 => buf[at] = u8::try_from(rng.below(256)).unwrap(),
                2 => buf.truncate(at),
                _ => buf.insert(at, interesting[rng.below(interesting.len())]),
            }
            if buf.is_empty() {
                buf.push(b'<');
            }
        }
        let whole = detect(&buf, ProtocolSet::ALL, &limits);
        let first = (0..=buf.len())
            .map(|n| detect(&buf[..n], ProtocolSet::ALL, &limits))
            .find(|a| *a != Ok(Status::Partial))
            .unwrap_or(Ok(Status::Partial));
        assert_eq!(first, whole, "{buf:?}");
    }
}
