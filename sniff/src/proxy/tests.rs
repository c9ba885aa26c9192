//! Unit tests for PROXY protocol parsing and encoding.

use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn complete(buf: &[u8]) -> ProxyHeader {
    match parse(buf) {
        Ok(Status::Complete(h)) => h,
        other => panic!("{buf:?}: {other:?}"),
    }
}

#[test]
fn v1_tcp4_tcp6_unknown() {
    let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
    let h = complete(line);
    assert_eq!(h.source, Some(addr("192.0.2.1:56324")));
    assert_eq!(h.destination, Some(addr("198.51.100.2:443")));
    assert_eq!(h.consume, 45);
    let h = complete(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
    assert_eq!(h.source, Some(addr("[2001:db8::1]:1")));
    assert_eq!(h.destination, Some(addr("[2001:db8::2]:65535")));
    let h = complete(b"PROXY UNKNOWN\r\n");
    assert_eq!((h.source, h.destination, h.consume), (None, None, 15));
    let h = complete(b"PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\n");
    assert_eq!(h.source, None);
}

#[test]
fn v1_errors() {
    let bad: [&[u8]; 11] = [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",
        b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
        b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",
        b"PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 +1 2\r\n",
        b"PROXY TCP4 192.0.2.1 198.51.100.2 1 65536\r\n",
        b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
        b"PROXY UNKNOWNX\r\n",
        b"PROXY UNKNOWN \xff",
    ];
    for line in bad {
        assert_eq!(
            parse(line),
            Err(ProxyError::V1Syntax),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(MAX_V1_LEN - 2, b'x');
    long.extend_from_slice(b"\r\n");
    assert_eq!(complete(&long).consume, MAX_V1_LEN);
    long.insert(20, b'x');
    assert_eq!(parse(&long[..MAX_V1_LEN - 1]), Ok(Status::Partial));
    assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
}

#[test]
fn v2_inet_inet6_local() {
    let h = complete(&encode_v2(
        addr("192.0.2.1:56324"),
        addr("198.51.100.2:443"),
    ));
    assert_eq!(h.source, Some(addr("192.0.2.1:56324")));
    assert_eq!(h.destination, Some(addr("198.51.100.2:443")));
    assert_eq!(h.consume, 28);
    let h = complete(&encode_v2(addr("[2001:db8::1]:5"), addr("[2001:db8::2]:6")));
    assert_eq!(h.source, Some(addr("[2001:db8::1]:5")));
    assert_eq!(h.consume, 52);
    // LOCAL with a TLV block: no addresses, whole header consumed.
    let mut local = V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x11, 0x00, 0x05, 0x04, 0x00, 0x02, b'h', b'i']);
    let h = complete(&local);
    assert_eq!((h.source, h.consume), (None, 21));
    // PROXY with TLVs after the addresses (unique id, type 0x05).
    let mut tlv = encode_v2(addr("192.0.2.1:1"), addr("192.0.2.2:2"));
    tlv[15] += 5;
    tlv.extend_from_slice(&[0x05, 0x00, 0x02, 0xaa, 0xbb]);
    tlv.extend_from_slice(b"client bytes");
    let h = complete(&tlv);
    assert_eq!(h.consume, 33);
    assert_eq!(h.source, Some(addr("192.0.2.1:1")));
    // AF_UNSPEC under PROXY.
    let mut unspec = V2_SIGNATURE.to_vec();
    unspec.extend_from_slice(&[0x21, 0x00, 0x00, 0x00]);
    assert_eq!(complete(&unspec).source, None);
}

#[test]
fn v2_errors_and_partials() {
    let good = encode_v2(addr("192.0.2.1:1"), addr("192.0.2.2:2"));
    for n in 0..good.len() {
        assert_eq!(parse(&good[..n]), Ok(Status::Partial), "{n}");
    }
    let with = |byte: usize, value: u8| {
        let mut v = good.clone();
        v[byte] = value;
        parse(&v)
    };
    assert_eq!(with(12, 0x11), Err(ProxyError::V2Version));
    assert_eq!(with(12, 0x22), Err(ProxyError::V2Command));
    assert_eq!(with(13, 0x12), Err(ProxyError::V2Unsupported));
    assert_eq!(with(13, 0x31), Err(ProxyError::V2Unsupported));
    assert_eq!(with(15, 11), Err(ProxyError::V2Addresses));
    let mut big = good[..16].to_vec();
    big[14..16].copy_from_slice(&u16::try_from(MAX_V2_LEN - 15).unwrap().to_be_bytes());
    assert_eq!(parse(&big), Err(ProxyError::V2TooLong));
    big[14..16].copy_from_slice(&u16::try_from(MAX_V2_LEN - 16).unwrap().to_be_bytes());
    assert_eq!(parse(&big), Ok(Status::Partial));
}

#[test]
fn signatures_and_non_proxy_bytes() {
    assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::NotProxy));
    assert_eq!(parse(b"\x16\x03\x01"), Err(ProxyError::NotProxy));
    assert_eq!(parse(b"PROX"), Ok(Status::Partial));
    assert_eq!(parse(b"\r\n\r\n"), Ok(Status::Partial));
    assert!(could_be_proxy(b""));
    assert!(could_be_proxy(b"PRO"));
    assert!(could_be_proxy(b"PROXY TCP4 garbage"));
    assert!(could_be_proxy(b"\r\n\r\n\0"));
    assert!(!could_be_proxy(b"PRI * HTTP/2.0"));
    assert!(!could_be_proxy(b"\r\n\r\nx"));
    assert!(!could_be_proxy(b"\x16"));
}

#[test]
fn encoders_round_trip_and_map_mixed_families() {
    let v4 = (addr("192.0.2.1:1000"), addr("198.51.100.2:443"));
    assert_eq!(
        encode_v1(v4.0, v4.1),
        b"PROXY TCP4 192.0.2.1 198.51.100.2 1000 443\r\n"
    );
    let mixed = (addr("192.0.2.1:1000"), addr("[2001:db8::2]:443"));
    assert_eq!(
        encode_v1(mixed.0, mixed.1),
        b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1000 443\r\n"
    );
    for (src, dst) in [v4, mixed, (addr("[::1]:1"), addr("[::2]:2"))] {
        for encoded in [encode_v1(src, dst), encode_v2(src, dst)] {
            let h = complete(&encoded);
            assert_eq!(h.consume, encoded.len());
            let (want_src, want_dst) = same_family(src, dst);
            assert_eq!((h.source, h.destination), (Some(want_src), Some(want_dst)));
        }
    }
}
