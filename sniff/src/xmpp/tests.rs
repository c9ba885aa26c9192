//! Unit tests for XMPP stream-header detection.

use super::*;

const C2S: &[u8] = b"<?xml version='1.0'?><stream:stream to='Example.org' version='1.0' \
xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

fn run(buf: &[u8]) -> Verdict {
    sniff(buf, &Limits::default())
}

fn host(buf: &[u8]) -> Option<String> {
    match run(buf) {
        Verdict::Complete(d) => {
            assert_eq!(d.protocol, Protocol::Xmpp);
            assert_eq!(d.consume, 0);
            d.host.map(|h| h.to_string())
        }
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn malformed(buf: &[u8]) -> Malformed {
    match run(buf) {
        Verdict::Malformed(m) => m,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

#[test]
fn client_stream_header() {
    assert_eq!(host(C2S).as_deref(), Some("example.org"));
    // Bytes after the header (a client may pipeline) are not looked at.
    let mut more = C2S.to_vec();
    more.extend_from_slice(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert_eq!(host(&more).as_deref(), Some("example.org"));
}

#[test]
fn prefixes_quotes_and_namespaces() {
    let s2s = b"<s:stream xmlns:s=\"http://etherx.jabber.org/streams\" xmlns=\"jabber:server\" \
xmlns:db=\"jabber:server:dialback\" to=\"b.example\" from=\"a.example\" version=\"1.0\">";
    assert_eq!(host(s2s).as_deref(), Some("b.example"));
    let no_decl = b"\r\n <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(host(no_decl), None);
    let gt_in_quotes = b"<stream:stream from='a>b' to='x.example' xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(host(gt_in_quotes).as_deref(), Some("x.example"));
    let entity = b"<stream:stream to='x&#46;example' xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(host(entity).as_deref(), Some("x.example"));
    let ip = b"<stream:stream to='[::1]' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(host(ip).as_deref(), Some("::1"));
    let utf8_decl = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<stream:stream to='a.example' \
xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(host(utf8_decl).as_deref(), Some("a.example"));
}

#[test]
fn not_a_stream() {
    let cases: [&[u8]; 6] = [
        b"<html><body>",
        b"<stream:stream xmlns:stream='urn:other' xmlns='jabber:client'>",
        b"<stream xmlns='http://etherx.jabber.org/streams'>",
        b"<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>",
        b"<stream:features xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        b"<stream:stream to='a.example' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>",
    ];
    for case in cases {
        assert_eq!(
            malformed(case),
            Malformed::XmppNotStream,
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn malformed_xml() {
    let cases: [&[u8]; 12] = [
        b"<!DOCTYPE stream>",
        b"<!-- hi -->",
        b"<?xml-stylesheet href='x'?>",
        b" <?xml version='1.0'?><stream:stream>",
        b"<?xml version='1.1'?><stream:stream>",
        b"<?xml version='1.0' encoding='UTF-16'?><s:stream>",
        b"<?xml version='1.0'?>text<stream:stream>",
        b"<stream:stream to='a' to='b'>",
        b"<stream:stream to='a<b'>",
        b"<x:stream xmlns='jabber:client'>",
        b"< stream>",
        b"<stream:stream to='\xff' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    ];
    for case in cases {
        assert_eq!(
            malformed(case),
            Malformed::XmppXml,
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn bad_to() {
    for to in [
        "",
        "a_b.example",
        "user@example.org",
        "example.org/res",
        "[example.org]",
    ] {
        let header = format!(
            "<stream:stream to='{to}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        );
        assert_eq!(malformed(header.as_bytes()), Malformed::XmppTo, "{to}");
    }
}

#[test]
fn what_is_not_xmpp_and_what_waits() {
    for not in [
        &b"GET / HTTP/1.1"[..],
        b"\x16\x03",
        b"\xef\xbb\xbf<stream",
        b"  x",
        b"DIAL a\n",
    ] {
        assert_eq!(run(not), Verdict::NotMine, "{not:?}");
    }
    for partial in [
        &b""[..],
        b" \r\n\t",
        b"<",
        b"<?",
        b"<?xml",
        b"<?xml version='1.0'",
        b"<stream:stream to='a>",
    ] {
        assert_eq!(run(partial), Verdict::Partial, "{partial:?}");
    }
}

#[test]
fn head_cap() {
    let limits = Limits {
        xmpp_head: C2S.len(),
        ..Limits::default()
    };
    assert!(matches!(sniff(C2S, &limits), Verdict::Complete(_)));
    let tight = Limits {
        xmpp_head: C2S.len() - 1,
        ..Limits::default()
    };
    assert_eq!(sniff(&C2S[..C2S.len() - 2], &tight), Verdict::Partial);
    assert_eq!(sniff(&C2S[..C2S.len() - 1], &tight), Verdict::TooLarge);
    assert_eq!(sniff(C2S, &tight), Verdict::TooLarge);
    assert_eq!(
        sniff(&vec![b' '; 4096], &Limits::default()),
        Verdict::TooLarge
    );
}

#[test]
fn byte_at_a_time_gives_the_same_answer() {
    let samples: [&[u8]; 4] = [
        C2S,
        b"<?xml version='1.0'?><!-- x -->",
        b"<stream:stream to='a_b' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        b"\n\n<html>",
    ];
    for sample in samples {
        let full = run(sample);
        let first = (0..=sample.len())
            .map(|n| run(&sample[..n]))
            .find(|v| *v != Verdict::Partial);
        assert_eq!(first, Some(full), "{:?}", String::from_utf8_lossy(sample));
    }
}
