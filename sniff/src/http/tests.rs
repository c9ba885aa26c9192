//! Unit tests for HTTP detection.

use super::*;
use crate::Hostname;

fn limits() -> Limits {
    Limits::default()
}

fn run(buf: &[u8]) -> Verdict {
    sniff(buf, &limits())
}

fn complete(buf: &[u8]) -> Detection {
    match run(buf) {
        Verdict::Complete(d) => *d,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn host(buf: &[u8]) -> Option<String> {
    complete(buf).host.map(|h| h.to_string())
}

fn malformed(buf: &[u8]) -> Malformed {
    match run(buf) {
        Verdict::Malformed(m) => m,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

#[test]
fn host_header_with_and_without_port() {
    let d =
        complete(b"GET /index.html?q=1 HTTP/1.1\r\nHost: Example.ORG:8080\r\nAccept: */*\r\n\r\n");
    assert_eq!(d.protocol, Protocol::Http);
    assert_eq!(d.host, Hostname::parse(b"example.org").ok());
    assert_eq!(d.port, None);
    assert_eq!(d.consume, 0);
    let http = d.http.unwrap();
    assert_eq!(http.method, "GET");
    assert_eq!(http.path, "/index.html?q=1");
    assert_eq!(http.minor_version, 1);
    assert!(!http.h2_preface);
    assert_eq!(
        host(b"GET / HTTP/1.1\r\nhost: [::1]:8080\r\n\r\n").as_deref(),
        Some("::1")
    );
    assert_eq!(
        host(b"GET / HTTP/1.1\nHOST: example.org.\n\n").as_deref(),
        Some("example.org")
    );
    assert_eq!(
        host(b"GET / HTTP/1.1\r\nHost:   a.example  \r\n\r\n").as_deref(),
        Some("a.example")
    );
}

#[test]
fn absolute_form_target() {
    let d = complete(b"GET http://Example.org:8080/a/b?c HTTP/1.1\r\nHost: example.org\r\n\r\n");
    assert_eq!(d.host.as_ref().map(Hostname::as_str), Some("example.org"));
    assert_eq!(d.http.unwrap().path, "/a/b?c");
    let d = complete(b"GET https://[2001:db8::1]?x HTTP/1.0\r\n\r\n");
    assert_eq!(d.host.as_ref().map(Hostname::as_str), Some("2001:db8::1"));
    assert_eq!(d.http.unwrap().path, "/?x");
    // Ports are not compared.
    assert_eq!(
        host(b"GET http://example.org:81/ HTTP/1.1\r\nHost: example.org:82\r\n\r\n").as_deref(),
        Some("example.org")
    );
    assert_eq!(
        malformed(b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n"),
        Malformed::HttpHostMismatch
    );
    assert_eq!(
        malformed(b"GET http://a.example/ HTTP/1.1\r\n\r\n"),
        Malformed::HttpMissingHost
    );
    assert_eq!(
        malformed(b"GET http://u@a.example/ HTTP/1.0\r\n\r\n"),
        Malformed::HttpHost
    );
    assert_eq!(
        malformed(b"GET http:///x HTTP/1.0\r\n\r\n"),
        Malformed::HttpHost
    );
    assert_eq!(
        malformed(b"GET mailto:a@b HTTP/1.0\r\n\r\n"),
        Malformed::HttpSyntax
    );
    assert_eq!(
        malformed(b"GET 1http://a/ HTTP/1.0\r\n\r\n"),
        Malformed::HttpSyntax
    );
}

#[test]
fn connect_is_never_http_and_asterisk_targets_are() {
    for buf in [
        &b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n"[..],
        b"CONNECT example.org HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT ",
        b"SSH-2.0-x / HTTP/1.1\r\n\r\n",
        b"SSH-",
    ] {
        assert_eq!(run(buf), Verdict::NotMine, "{buf:?}");
    }
    // Prefixes of them could still be other methods.
    for buf in [&b"CONNECT"[..], b"SSH"] {
        assert_eq!(run(buf), Verdict::Partial, "{buf:?}");
    }
    // Authority-form belongs to CONNECT alone.
    assert_eq!(
        malformed(b"OPTIONS example.org:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
        Malformed::HttpSyntax
    );
    let d = complete(b"OPTIONS * HTTP/1.1\r\nHost: example.org\r\n\r\n");
    assert_eq!(d.http.unwrap().path, "*");
}

#[test]
fn host_rules() {
    assert_eq!(host(b"GET / HTTP/1.0\r\n\r\n"), None);
    assert_eq!(host(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), None);
    assert_eq!(
        malformed(b"GET / HTTP/1.1\r\n\r\n"),
        Malformed::HttpMissingHost
    );
    assert_eq!(
        malformed(b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n"),
        Malformed::HttpDuplicateHost
    );
    assert_eq!(
        malformed(b"GET / HTTP/1.0\r\nHost: a.example\r\nhOsT: b.example\r\n\r\n"),
        Malformed::HttpDuplicateHost
    );
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a_b.example\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a.example:http\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a.example/x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \xc3\xa9.example\r\n\r\n",
    ] {
        assert_eq!(
            malformed(bad),
            Malformed::HttpHost,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn syntax_errors_and_versions() {
    for bad in [
        &b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.2\r\n",
        b"GET  / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        b"GET /\r\n",
        b"GET / HTTP/1.1\rX",
        b"GET x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"FOO / HTTP/1.1\r\nno colon here\r\n\r\n",
    ] {
        assert_eq!(
            malformed(bad),
            Malformed::HttpSyntax,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn what_is_not_http() {
    for not in [
        &b" GET / HTTP/1.1\r\n"[..],
        b"\r\nGET / HTTP/1.1\r\n",
        b"\x16\x03\x01",
        b"<stream",
        b"GE\x00",
        b"G(",
        b"DIAL example.org\n",
        b"SSH-2.0-OpenSSH_9.6 Ubuntu\r\n",
        b"SSH-2.0-OpenSSH_9.2p1\r\n",
        b"FOO /x\r\n",
        b"FOO /x HTTX",
        b"DIAL ",
    ] {
        assert_eq!(run(not), Verdict::NotMine, "{not:?}");
    }
    for partial in [
        &b""[..],
        b"G",
        b"GET",
        b"DIAL",
        b"DIALX",
        b"GET ",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
    ] {
        assert_eq!(run(partial), Verdict::Partial, "{partial:?}");
    }
    // A method that merely starts like DIAL is HTTP.
    assert_eq!(host(b"DIALX / HTTP/1.0\r\n\r\n"), None);
}

#[test]
fn h2_preface() {
    let d = complete(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04");
    assert_eq!(d.protocol, Protocol::Http);
    assert_eq!(d.host, None);
    let http = d.http.unwrap();
    assert!(http.h2_preface);
    assert_eq!(http.method, "");
    for n in 0..H2_PREFACE.len() {
        assert_eq!(run(&H2_PREFACE[..n]), Verdict::Partial, "{n}");
    }
    assert_eq!(
        malformed(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"),
        Malformed::HttpSyntax
    );
}

#[test]
fn head_size_cap_applies_to_partial_and_complete_heads() {
    let req = b"GET / HTTP/1.1\r\nHost: example.org\r\nX-Pad: aaaa\r\n\r\n";
    let cap = req.len();
    let exact = Limits {
        http_head: cap,
        ..Limits::default()
    };
    let mut with_body = req.to_vec();
    with_body.extend_from_slice(b"body");
    assert!(matches!(sniff(req, &exact), Verdict::Complete(_)));
    assert!(matches!(sniff(&with_body, &exact), Verdict::Complete(_)));
    let tight = Limits {
        http_head: cap - 1,
        ..Limits::default()
    };
    assert_eq!(sniff(&req[..cap - 2], &tight), Verdict::Partial);
    assert_eq!(sniff(&req[..cap - 1], &tight), Verdict::TooLarge);
    assert_eq!(sniff(req, &tight), Verdict::TooLarge);
    assert_eq!(sniff(&with_body, &tight), Verdict::TooLarge);
    // A method token longer than the cap.
    assert_eq!(sniff(&vec![b'A'; cap - 1], &tight), Verdict::TooLarge);
    assert_eq!(sniff(&vec![b'A'; cap - 2], &tight), Verdict::Partial);
    // A syntax error inside the cap wins, however long the buffer.
    let mut bad = b"GET / HTTP/1.1\r\nBad Header: x\r\n".to_vec();
    bad.extend_from_slice(&[b'x'; 100]);
    assert_eq!(
        sniff(&bad, &tight),
        Verdict::Malformed(Malformed::HttpSyntax)
    );
}

#[test]
fn header_count_cap() {
    let limits = Limits {
        http_headers: 3,
        ..Limits::default()
    };
    let three = b"GET / HTTP/1.1\r\nHost: a.example\r\nA: 1\r\nB: 2\r\n\r\n";
    assert!(matches!(sniff(three, &limits), Verdict::Complete(_)));
    let four = b"GET / HTTP/1.1\r\nHost: a.example\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(sniff(four, &limits), Verdict::TooLarge);
}

#[test]
fn byte_at_a_time_gives_the_same_answer() {
    let samples: [&[u8]; 5] = [
        b"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nbody",
        H2_PREFACE,
        b"DIAL x\n",
        b"PUT / HTTP/1.0\r\n\r\n",
    ];
    for sample in samples {
        let full = run(sample);
        let first = (0..=sample.len())
            .map(|n| run(&sample[..n]))
            .find(|v| *v != Verdict::Partial);
        assert_eq!(first, Some(full), "{:?}", String::from_utf8_lossy(sample));
    }
}
