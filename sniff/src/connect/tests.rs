//! Unit tests for `CONNECT` detection.

use std::net::IpAddr;

use super::*;
use crate::Hostname;

/// curl 7.88.1's request for `curl -p -x http://PROXY -U alice:s3cret https://nas.example.org/`.
const CURL: &[u8] = b"CONNECT nas.example.org:443 HTTP/1.1\r\nHost: nas.example.org:443\r\n\
Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\nUser-Agent: curl/7.88.1\r\n\
Proxy-Connection: Keep-Alive\r\n\r\n";

fn run(buf: &[u8]) -> Verdict {
    sniff(buf, &Limits::default())
}

fn complete(buf: &[u8]) -> Detection {
    match run(buf) {
        Verdict::Complete(d) => *d,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn request_of(buf: &[u8]) -> ProxyRequest {
    complete(buf).connect.expect("connect details")
}

fn auth_of(header: &str) -> Auth {
    let buf = format!("CONNECT a.example:22 HTTP/1.1\r\nHost: a.example:22\r\n{header}\r\n\r\n");
    request_of(buf.as_bytes()).auth
}

fn name(s: &str) -> Hostname {
    Hostname::parse_str(s).expect("valid name")
}

#[test]
fn curl_with_proxy_user() {
    let d = complete(CURL);
    assert_eq!(d.protocol, Protocol::Connect);
    assert_eq!(d.host, Some(name("nas.example.org")));
    assert_eq!(d.port, Some(443));
    assert_eq!(d.consume, CURL.len());
    assert_eq!((d.tls, d.http, d.socks5), (None, None, None));
    assert_eq!(
        d.connect,
        Some(ProxyRequest {
            target: ProxyTarget::Name(name("nas.example.org")),
            port: 443,
            auth: Auth::Basic(Credentials {
                user: "alice".into(),
                password: b"s3cret".to_vec(),
            }),
        })
    );
    // Bytes after the head are the tunnel's, not consumed.
    let mut more = CURL.to_vec();
    more.extend_from_slice(b"\x16\x03\x01");
    assert_eq!(complete(&more).consume, CURL.len());
}

#[test]
fn targets() {
    let r = request_of(b"CONNECT 192.0.2.7:22 HTTP/1.0\r\n\r\n");
    assert_eq!(r.target, ProxyTarget::Ip(IpAddr::from([192, 0, 2, 7])));
    assert_eq!((r.port, r.auth), (22, Auth::None));
    let d = complete(b"CONNECT [2001:DB8::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(d.host, Some(name("2001:db8::1")));
    assert_eq!(d.port, Some(8443));
    assert_eq!(
        d.connect.map(|c| c.target),
        Some(ProxyTarget::Ip("2001:db8::1".parse().expect("v6")))
    );
    // Host is not consulted (nor required).
    let r = request_of(b"CONNECT Nas.Example.org.:65535 HTTP/1.1\r\nHost: other.example\r\n\r\n");
    assert_eq!(
        (r.target, r.port),
        (ProxyTarget::Name(name("nas.example.org")), 65535)
    );
}

#[test]
fn malformed_targets_and_requests() {
    for target in [
        "nas.example.org",
        "nas.example.org:",
        "nas.example.org:0",
        "nas.example.org:65536",
        "2001:db8::1:443",
        "[2001:db8::1]",
        "under_score.example:443",
        "user@nas.example.org:443",
        "127.1:443",
        "/path",
        "http://a.example:443/",
        "*",
    ] {
        let buf = format!("CONNECT {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            run(buf.as_bytes()),
            Verdict::Malformed(Malformed::ConnectTarget),
            "{target}"
        );
    }
    for buf in [
        &b"CONNECT  a.example:1 HTTP/1.1\r\n\r\n"[..],
        b"CONNECT a.example:1 HTTP/2.0\r\n\r\n",
        b"CONNECT a.example:1\r\n\r\n",
        b"CONNECT a.example:1 HTTP/1.1\r\nbad header\r\n\r\n",
        b"CONNECT a.example:1 HTTP/1.1\r\n folded: x\r\n\r\n",
    ] {
        assert_eq!(
            run(buf),
            Verdict::Malformed(Malformed::ConnectRequest),
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn every_truncation_waits_and_other_bytes_are_not_connect() {
    for n in 0..CURL.len() {
        assert_eq!(run(&CURL[..n]), Verdict::Partial, "{n}");
    }
    for buf in [
        &b"CONNECTX a:1 HTTP/1.1\r\n\r\n"[..],
        b"connect a:1 HTTP/1.1\r\n\r\n",
        b"CONNECT\ta:1",
        b"GET / HTTP/1.1\r\n",
        b"CX",
        b"\x05\x01\x00",
    ] {
        assert_eq!(run(buf), Verdict::NotMine, "{buf:?}");
    }
}

#[test]
fn caps_are_the_http_caps() {
    let limits = Limits {
        http_head: 64,
        http_headers: 2,
        ..Limits::default()
    };
    let long = format!(
        "CONNECT a.example:1 HTTP/1.1\r\nX: {}\r\n\r\n",
        "y".repeat(64)
    );
    assert_eq!(sniff(long.as_bytes(), &limits), Verdict::TooLarge);
    assert_eq!(sniff(&long.as_bytes()[..64], &limits), Verdict::TooLarge);
    assert_eq!(sniff(&long.as_bytes()[..63], &limits), Verdict::Partial);
    let many = b"CONNECT a.example:1 HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(sniff(many, &limits), Verdict::TooLarge);
    assert!(matches!(
        sniff(many, &Limits::default()),
        Verdict::Complete(_)
    ));
}

#[test]
fn basic_credentials() {
    let basic = |user: &str, password: &[u8]| {
        Auth::Basic(Credentials {
            user: user.into(),
            password: password.to_vec(),
        })
    };
    // "alice:pa:ss" splits at the first colon.
    assert_eq!(
        auth_of("Proxy-Authorization: Basic YWxpY2U6cGE6c3M="),
        basic("alice", b"pa:ss")
    );
    assert_eq!(
        auth_of("proxy-authorization: basic   YWxpY2U6cGE6c3M=  "),
        basic("alice", b"pa:ss")
    );
    // ":" alone: empty user and password.
    assert_eq!(auth_of("Proxy-Authorization: Basic Og=="), basic("", b""));
    // A non-UTF-8 password is kept as bytes: "bob:\xff".
    assert_eq!(
        auth_of("Proxy-Authorization: Basic Ym9iOv8="),
        basic("bob", b"\xff")
    );
    assert_eq!(auth_of("Proxy-Authorization: Bearer abc"), Auth::None);
    assert_eq!(
        auth_of("Proxy-Authorization: Basicx YWxpY2U6eA=="),
        Auth::None
    );
    assert_eq!(auth_of("Authorization: Basic YWxpY2U6eA=="), Auth::None);
    for bad in [
        "Proxy-Authorization: Basic",
        "Proxy-Authorization: Basic !!!!",
        "Proxy-Authorization: Basic YWxpY2U6eA",
        "Proxy-Authorization: Basic YWxpY2U=",
        "Proxy-Authorization: Basic /zp4",
        "Proxy-Authorization: Basic YWxpY2U6eA==\r\nProxy-Authorization: Basic YWxpY2U6eA==",
    ] {
        assert_eq!(auth_of(bad), Auth::Invalid, "{bad}");
    }
}
