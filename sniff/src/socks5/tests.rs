//! Unit tests for the SOCKS5 greeting, messages and replies.

use std::net::{IpAddr, SocketAddr};

use super::*;

/// curl 7.88.1's greeting with `--proxy-user`: no auth and username/password.
const CURL_GREETING: &[u8] = &[0x05, 0x02, 0x00, 0x02];

fn greeting(buf: &[u8]) -> (Greeting, usize) {
    match sniff(buf) {
        Verdict::Complete(d) => {
            assert_eq!((d.protocol, d.host, d.port), (Protocol::Socks5, None, None));
            (d.socks5.expect("greeting"), d.consume)
        }
        other => panic!("{buf:?}: {other:?}"),
    }
}

fn name(s: &str) -> ProxyTarget {
    ProxyTarget::Name(Hostname::parse_str(s).expect("valid name"))
}

/// The first answer that is not Partial over growing prefixes.
fn first_answer<T: PartialEq + std::fmt::Debug>(
    buf: &[u8],
    parse: impl Fn(&[u8]) -> Result<Status<T>, Socks5Error>,
) -> Result<Status<T>, Socks5Error> {
    (0..=buf.len())
        .map(|n| parse(&buf[..n]))
        .find(|a| *a != Ok(Status::Partial))
        .unwrap_or(Ok(Status::Partial))
}

#[test]
fn greetings() {
    let both = Greeting {
        no_auth: true,
        user_password: true,
    };
    assert_eq!(greeting(CURL_GREETING), (both, 4));
    assert_eq!(
        greeting(&[5, 1, 0, 5, 1, 0]),
        (
            Greeting {
                no_auth: true,
                ..Greeting::default()
            },
            3
        )
    );
    assert_eq!(greeting(&[5, 3, 1, 0x80, 0xfe]), (Greeting::default(), 5));
    let mut all = vec![5, 255];
    all.extend(0..=254u8);
    assert_eq!(greeting(&all), (both, MAX_GREETING));
    for n in 0..CURL_GREETING.len() {
        assert_eq!(sniff(&CURL_GREETING[..n]), Verdict::Partial, "{n}");
    }
    assert_eq!(sniff(&all[..MAX_GREETING - 1]), Verdict::Partial);
    assert_eq!(
        sniff(&[5, 0]),
        Verdict::Malformed(Malformed::Socks5Greeting)
    );
    assert_eq!(
        sniff(&[5, 0, 0, 2]),
        Verdict::Malformed(Malformed::Socks5Greeting)
    );
    for buf in [&[4u8, 1, 0, 80][..], &[0x16, 3, 1], b"SSH-", &[0]] {
        assert_eq!(sniff(buf), Verdict::NotMine, "{buf:?}");
    }
}

#[test]
fn username_password() {
    let msg = b"\x01\x05alice\x06s3cret";
    let want = Credentials {
        user: "alice".into(),
        password: b"s3cret".to_vec(),
    };
    assert_eq!(
        parse_auth(msg),
        Ok(Status::Complete((want.clone(), msg.len())))
    );
    let mut more = msg.to_vec();
    more.extend_from_slice(&[5, 1, 0]);
    assert_eq!(parse_auth(&more), Ok(Status::Complete((want, msg.len()))));
    for n in 0..msg.len() {
        assert_eq!(parse_auth(&msg[..n]), Ok(Status::Partial), "{n}");
    }
    let long = {
        let mut m = vec![1, 255];
        m.extend(std::iter::repeat_n(b'u', 255));
        m.push(255);
        m.extend(std::iter::repeat_n(0xffu8, 255));
        m
    };
    match parse_auth(&long) {
        Ok(Status::Complete((c, len))) => {
            assert_eq!((c.user.len(), c.password.len(), len), (255, 255, 513));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(parse_auth(b"\x05\x01\x00"), Err(Socks5Error::AuthVersion));
    assert_eq!(parse_auth(b"\x01\x00"), Err(Socks5Error::EmptyUser));
    assert_eq!(parse_auth(b"\x01\x01\xff"), Err(Socks5Error::UserNotUtf8));
    assert_eq!(
        parse_auth(b"\x01\x01a\x00"),
        Err(Socks5Error::EmptyPassword)
    );
    for e in [
        Socks5Error::AuthVersion,
        Socks5Error::EmptyUser,
        Socks5Error::EmptyPassword,
    ] {
        assert_eq!(e.reply_code(), None);
    }
}

#[test]
fn requests() {
    let complete = |buf: &[u8]| match parse_request(buf) {
        Ok(Status::Complete((r, len))) => {
            assert_eq!(len, buf.len());
            for n in 0..buf.len() {
                assert_eq!(parse_request(&buf[..n]), Ok(Status::Partial), "{n}");
            }
            (r.target, r.port)
        }
        other => panic!("{buf:?}: {other:?}"),
    };
    // curl --socks5-hostname: ATYP 3.
    assert_eq!(
        complete(b"\x05\x01\x00\x03\x0fNas.Example.org\x01\xbb"),
        (name("nas.example.org"), 443)
    );
    assert_eq!(
        complete(&[5, 1, 0, 1, 192, 0, 2, 7, 0, 22]),
        (ProxyTarget::Ip(IpAddr::from([192, 0, 2, 7])), 22)
    );
    let mut v6 = vec![5, 1, 0, 4];
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v6.extend_from_slice(&[0xff, 0xff]);
    assert_eq!(
        complete(&v6),
        (ProxyTarget::Ip("2001:db8::1".parse().expect("v6")), 65535)
    );
    // A name that is an address is an address.
    assert_eq!(
        complete(b"\x05\x01\x00\x03\x09192.0.2.7\x00\x50"),
        (ProxyTarget::Ip(IpAddr::from([192, 0, 2, 7])), 80)
    );
    let mut longest = vec![5, 1, 0, 3, 253];
    let label = [b'a'; 63];
    for (i, l) in [63usize, 63, 63, 61].iter().enumerate() {
        if i > 0 {
            longest.push(b'.');
        }
        longest.extend_from_slice(&label[..*l]);
    }
    longest.extend_from_slice(&[0, 1]);
    assert_eq!(complete(&longest).1, 1);
}

#[test]
fn request_errors_and_their_replies() {
    let cases: [(&[u8], Socks5Error, Option<u8>); 9] = [
        (&[4, 1, 0, 1], Socks5Error::Version, None),
        (
            &[5, 2, 0, 1],
            Socks5Error::Command(2),
            Some(COMMAND_NOT_SUPPORTED),
        ),
        (
            &[5, 3],
            Socks5Error::Command(3),
            Some(COMMAND_NOT_SUPPORTED),
        ),
        (&[5, 1, 1, 1], Socks5Error::Reserved, Some(GENERAL_FAILURE)),
        (
            &[5, 1, 0, 2, 0],
            Socks5Error::AddressType(2),
            Some(ADDRESS_TYPE_NOT_SUPPORTED),
        ),
        (
            &[5, 1, 0, 3, 0, 0, 80],
            Socks5Error::EmptyName,
            Some(GENERAL_FAILURE),
        ),
        (
            b"\x05\x01\x00\x03\x03a_b\x00\x50",
            Socks5Error::Name(HostnameError::BadLabel),
            Some(HOST_UNREACHABLE),
        ),
        (
            b"\x05\x01\x00\x03\x051.2.3\x00\x50",
            Socks5Error::Name(HostnameError::NumericName),
            Some(HOST_UNREACHABLE),
        ),
        (
            &[5, 1, 0, 1, 10, 0, 0, 1, 0, 0],
            Socks5Error::Port,
            Some(GENERAL_FAILURE),
        ),
    ];
    for (buf, error, code) in cases {
        assert_eq!(parse_request(buf), Err(error), "{buf:?}");
        assert_eq!(first_answer(buf, parse_request), Err(error), "{buf:?}");
        assert_eq!(error.reply_code(), code, "{error}");
    }
}

#[test]
fn answers_are_split_independent() {
    let msgs: [&[u8]; 4] = [
        b"\x05\x01\x00\x03\x0fnas.example.org\x01\xbb",
        &[5, 1, 0, 1, 10, 0, 0, 1, 0, 0],
        b"\x05\x01\x00\x03\x03a_b\x00\x50",
        &[5, 9, 0, 3],
    ];
    for msg in msgs {
        assert_eq!(
            first_answer(msg, parse_request),
            parse_request(msg),
            "{msg:?}"
        );
    }
    for msg in [
        &b"\x01\x05alice\x06s3cret"[..],
        b"\x01\x01\xff\x01x",
        b"\x01\x01a\x00",
    ] {
        assert_eq!(first_answer(msg, parse_auth), parse_auth(msg), "{msg:?}");
    }
}

#[test]
fn encoders() {
    assert_eq!(method_selection(USER_PASSWORD), [5, 2]);
    assert_eq!(method_selection(NO_AUTH), [5, 0]);
    assert_eq!(method_selection(NO_ACCEPTABLE), [5, 0xff]);
    assert_eq!(auth_reply(true), [1, 0]);
    assert_eq!(auth_reply(false), [1, 1]);
    assert_eq!(reply(NOT_ALLOWED, None), [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    let v4: SocketAddr = "192.0.2.1:1080".parse().expect("addr");
    assert_eq!(
        reply(SUCCEEDED, Some(v4)),
        [5, 0, 0, 1, 192, 0, 2, 1, 0x04, 0x38]
    );
    let v6: SocketAddr = "[2001:db8::1]:443".parse().expect("addr");
    let r = reply(HOST_UNREACHABLE, Some(v6));
    assert_eq!(r.len(), 22);
    assert_eq!(&r[..4], &[5, 4, 0, 4]);
    assert_eq!(&r[20..], &[0x01, 0xbb]);
    assert_eq!([NETWORK_UNREACHABLE, CONNECTION_REFUSED], [0x03, 0x05]);
}
