//! Unit tests for ClientHello detection, over hand-built hellos and one
//! captured from curl (OpenSSL 3.0, SNI `example.org`, ALPN `h2`,
//! `http/1.1`).

use super::*;

/// The first flight of `curl --http2 https://example.org/`.
const CURL_HELLO: &[u8] = include_bytes!("curl_client_hello.bin");

/// Extension type of `key_share`.
const EXT_KEY_SHARE: u16 = 51;
/// Named group X25519MLKEM768.
const X25519_MLKEM768: u16 = 0x11ec;

fn u16be(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap().to_be_bytes()
}

fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&u16be(data.len()));
    out.extend_from_slice(data);
    out
}

fn sni_ext(names: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (kind, name) in names {
        list.push(*kind);
        list.extend_from_slice(&u16be(name.len()));
        list.extend_from_slice(name);
    }
    let mut data = u16be(list.len()).to_vec();
    data.extend_from_slice(&list);
    ext(EXT_SERVER_NAME, &data)
}

fn alpn_ext(names: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for name in names {
        list.push(u8::try_from(name.len()).unwrap());
        list.extend_from_slice(name);
    }
    let mut data = u16be(list.len()).to_vec();
    data.extend_from_slice(&list);
    ext(EXT_ALPN, &data)
}

/// A post-quantum key share: X25519MLKEM768 (1216 bytes) and X25519 (32).
fn pq_key_share() -> Vec<u8> {
    let mut shares = X25519_MLKEM768.to_be_bytes().to_vec();
    shares.extend_from_slice(&u16be(1216));
    shares.extend(std::iter::repeat_n(0xab, 1216));
    shares.extend_from_slice(&[0x00, 0x1d]);
    shares.extend_from_slice(&u16be(32));
    shares.extend(std::iter::repeat_n(0xcd, 32));
    let mut data = u16be(shares.len()).to_vec();
    data.extend_from_slice(&shares);
    ext(EXT_KEY_SHARE, &data)
}

/// A ClientHello handshake message (header included) with these extensions.
fn hello(extensions: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(32);
    body.extend_from_slice(&[0x22; 32]); // session id
    body.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0x13, 0x02]); // ciphers
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let all: Vec<u8> = extensions.concat();
    body.extend_from_slice(&u16be(all.len()));
    body.extend_from_slice(&all);
    let mut msg = vec![HANDSHAKE_CLIENT_HELLO];
    msg.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    msg
}

/// Wraps `message` in handshake records carrying at most `size` bytes each.
fn records(message: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in message.chunks(size) {
        out.extend_from_slice(&[CONTENT_HANDSHAKE, 0x03, 0x01]);
        out.extend_from_slice(&u16be(chunk.len()));
        out.extend_from_slice(chunk);
    }
    out
}

fn run(buf: &[u8]) -> Verdict {
    sniff(buf, &Limits::default())
}

fn complete(buf: &[u8]) -> Detection {
    match run(buf) {
        Verdict::Complete(d) => *d,
        other => panic!("{other:?}"),
    }
}

fn host(buf: &[u8]) -> Option<String> {
    complete(buf).host.map(|h| h.to_string())
}

/// Feeds `buf` one byte at a time: every proper prefix before the answer is
/// partial, and the first answer equals the answer over the whole buffer.
fn assert_prefix_stable(buf: &[u8]) {
    let full = run(buf);
    let first = (0..=buf.len())
        .map(|n| run(&buf[..n]))
        .find(|v| *v != Verdict::Partial);
    assert_eq!(first, Some(full));
}

#[test]
fn curl_hello_gives_sni_and_alpn() {
    let d = complete(CURL_HELLO);
    assert_eq!(d.protocol, Protocol::Tls);
    assert_eq!(d.host.as_ref().map(Hostname::as_str), Some("example.org"));
    assert_eq!(
        d.tls,
        Some(Tls {
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        })
    );
    assert_eq!(d.consume, 0);
    assert_prefix_stable(CURL_HELLO);
}

#[test]
fn curl_hello_resplit_into_small_records() {
    // Strip the single record header and re-frame the same message.
    let message = &CURL_HELLO[RECORD_HEADER_LEN..];
    for size in [1, 7, 100, 511] {
        let buf = records(message, size);
        assert_eq!(
            host(&buf).as_deref(),
            Some("example.org"),
            "records of {size}"
        );
    }
}

#[test]
fn post_quantum_hello_over_two_records() {
    let message = hello(&[
        sni_ext(&[(0, b"PQ.Example.org.")]),
        pq_key_share(),
        alpn_ext(&[b"h2"]),
    ]);
    assert!(message.len() > 1300, "{}", message.len());
    // Split the way a 1-segment write often is: the first record ends mid-hello.
    let buf = records(&message, 1200);
    assert_eq!(host(&buf).as_deref(), Some("pq.example.org"));
    assert_prefix_stable(&buf);
    let mut with_more = buf.clone();
    with_more.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    assert_eq!(host(&with_more).as_deref(), Some("pq.example.org"));
}

#[test]
fn no_sni_and_no_extensions_mean_no_host() {
    let d = complete(&records(&hello(&[alpn_ext(&[b"imap"])]), 16_384));
    assert_eq!(d.host, None);
    assert_eq!(
        d.tls,
        Some(Tls {
            alpn: vec![b"imap".to_vec()]
        })
    );
    let d = complete(&records(&hello(&[]), 16_384));
    assert_eq!(d.host, None);
    assert_eq!(d.tls, Some(Tls::default()));
    // A server_name entry of an unknown type is not a host name.
    assert_eq!(host(&records(&hello(&[sni_ext(&[(7, b"x")])]), 512)), None);
}

#[test]
fn bad_server_names() {
    let cases: [Vec<u8>; 6] = [
        sni_ext(&[(0, b"bad_name.example")]),
        sni_ext(&[(0, b"192.0.2.1")]),
        sni_ext(&[(0, b"")]),
        sni_ext(&[(0, b"a.example"), (0, b"b.example")]),
        sni_ext(&[]),
        ext(EXT_SERVER_NAME, &[0x00, 0x05, 0x00, 0x00, 0x01, b'a', 0xff]),
    ];
    for sni in cases {
        let buf = records(&hello(std::slice::from_ref(&sni)), 512);
        assert_eq!(
            run(&buf),
            Verdict::Malformed(Malformed::TlsServerName),
            "{sni:?}"
        );
    }
}

#[test]
fn bad_hellos() {
    let bad = Verdict::Malformed(Malformed::TlsHello);
    let twice = hello(&[sni_ext(&[(0, b"a.example")]), sni_ext(&[(0, b"a.example")])]);
    assert_eq!(run(&records(&twice, 512)), bad);
    assert_eq!(run(&records(&hello(&[alpn_ext(&[b"h2", b""])]), 512)), bad);
    assert_eq!(run(&records(&hello(&[alpn_ext(&[])]), 512)), bad);
    assert_eq!(
        run(&records(
            &hello(&[ext(EXT_ALPN, &[0, 3, 2, b'h', b'2', 9])]),
            512
        )),
        bad
    );
    // Extension block longer than its data.
    let mut truncated = hello(&[sni_ext(&[(0, b"a.example")])]);
    truncated.truncate(truncated.len() - 1);
    truncated[3] -= 1;
    assert_eq!(run(&records(&truncated, 512)), bad);
    // Trailing bytes after the extensions, inside the message.
    let mut trailing = hello(&[]);
    trailing.push(0);
    trailing[3] += 1;
    assert_eq!(run(&records(&trailing, 512)), bad);
    // Not a ClientHello (ServerHello = 2), decided at the first payload byte.
    assert_eq!(run(&[0x16, 0x03, 0x03, 0x00, 0x40, 0x02]), bad);
    // A zero-length message.
    assert_eq!(run(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0, 0, 0]), bad);
}

#[test]
fn record_layer_checks() {
    let bad = Verdict::Malformed(Malformed::TlsRecord);
    assert_eq!(run(&[0x16, 0x02]), bad);
    assert_eq!(run(&[0x16, 0x03, 0x01, 0x00, 0x00]), bad);
    assert_eq!(run(&[0x16, 0x03, 0x01, 0x40, 0x01]), bad);
    assert_eq!(run(&[0x16, 0x03, 0x01, 0x40, 0x00]), Verdict::Partial);
    // The second record of a split hello must be a handshake record too.
    let message = hello(&[sni_ext(&[(0, b"a.example")])]);
    let mut buf = records(&message[..10], 10);
    buf.extend_from_slice(&[0x15, 0x03, 0x01, 0x00, 0x02]);
    assert_eq!(run(&buf), bad);
    assert_prefix_stable(&buf);
}

#[test]
fn what_is_not_tls() {
    assert_eq!(run(b""), Verdict::Partial);
    assert_eq!(run(&[0x16]), Verdict::Partial);
    for not in [
        &b"GET / HTTP/1.1"[..],
        b"\x15\x03\x01",
        b"\x80\x2e\x01",
        b"<",
    ] {
        assert_eq!(run(not), Verdict::NotMine, "{not:?}");
    }
}

#[test]
fn hello_size_caps() {
    let message = hello(&[sni_ext(&[(0, b"a.example")]), pq_key_share()]);
    let body_len = message.len() - HANDSHAKE_HEADER_LEN;
    let fits = Limits {
        tls_hello: body_len,
        ..Limits::default()
    };
    let small = Limits {
        tls_hello: body_len - 1,
        ..Limits::default()
    };
    let buf = records(&message, 16_384);
    assert!(matches!(sniff(&buf, &fits), Verdict::Complete(_)));
    // Too large as soon as the handshake length is in: 5 + 4 bytes.
    assert_eq!(sniff(&buf[..9], &small), Verdict::TooLarge);
    assert_eq!(sniff(&buf[..8], &small), Verdict::Partial);
    // Records of 80 bytes or more always fit in max_record_bytes.
    let split = records(&message, 80);
    assert!(split.len() <= max_record_bytes(body_len));
    assert!(matches!(sniff(&split, &fits), Verdict::Complete(_)));
    // Tiny records exhaust the record-byte cap before the hello is complete.
    let tiny = records(&message, 4);
    let cap = max_record_bytes(body_len);
    assert!(tiny.len() > cap);
    assert_eq!(sniff(&tiny[..cap - 1], &fits), Verdict::Partial);
    assert_eq!(sniff(&tiny[..cap], &fits), Verdict::TooLarge);
    assert_eq!(sniff(&tiny, &fits), Verdict::TooLarge);
    assert!(Limits::default().max_peek() >= max_record_bytes(Limits::DEFAULT_TLS_HELLO));
}
