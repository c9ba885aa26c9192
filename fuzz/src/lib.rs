//! Checks shared by the fuzz targets: each panics (which libFuzzer reports
//! as a crash) when `portico-sniff` breaks one of its promises.
//!
//! Split points are derived from a hash of the input, so every mutation the
//! fuzzer makes also moves them; inputs of up to [`BYTEWISE_MAX`] bytes are
//! also fed one byte at a time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use portico_sniff::proxy::{self, ProxyError, ProxyHeader};
use portico_sniff::quic::read_plaintext_payloads;
use portico_sniff::{
    Detection, Error, InitialReader, Limits, Protocol, ProtocolSet, QuicVerdict, Status, detect,
    version_negotiation,
};

/// Inputs up to this many bytes are also fed one byte per read.
pub const BYTEWISE_MAX: usize = 96;

/// Small caps, so that inputs of a few hundred bytes reach every limit.
pub const SMALL_LIMITS: Limits = Limits {
    tls_hello: 600,
    http_head: 256,
    http_headers: 8,
    xmpp_head: 160,
    quic_datagrams: 2,
};

/// The answer of [`detect`].
type Answer = Result<Status<Detection>, Error>;

/// FNV-1a over the input: a cheap source of split points.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Read boundaries for `data`: two hash-derived points, or every byte for a
/// short input.
fn cuts(data: &[u8]) -> Vec<usize> {
    let len = data.len();
    if len <= BYTEWISE_MAX {
        return (1..len).collect();
    }
    let h = hash(data);
    let span = len as u64 + 1;
    vec![(h % span) as usize, ((h >> 32) % span) as usize]
}

/// The answer over growing prefixes ending at `cuts` and then at the end,
/// stopping at the first one that is not Partial.
fn in_reads<T: PartialEq, E: PartialEq>(
    data: &[u8],
    cuts: &[usize],
    mut decide: impl FnMut(&[u8]) -> Result<Status<T>, E>,
) -> Result<Status<T>, E> {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
    ends.push(data.len());
    ends.sort_unstable();
    ends.dedup();
    let mut answer = Ok(Status::Partial);
    for end in ends {
        answer = decide(&data[..end]);
        if answer != Ok(Status::Partial) {
            break;
        }
    }
    answer
}

/// Checks one answer for `protocol` alone over `len` bytes.
fn check_answer(answer: &Answer, protocol: Protocol, len: usize, limits: &Limits) {
    match answer {
        Ok(Status::Complete(d)) => {
            assert_eq!(d.protocol, protocol);
            assert!(d.consume <= len, "consume {} > {len}", d.consume);
            assert_eq!(d.consume > 0, protocol == Protocol::Dial);
            assert_eq!(d.tls.is_some(), protocol == Protocol::Tls);
            assert_eq!(d.http.is_some(), protocol == Protocol::Http);
        }
        Ok(Status::Partial) => {
            assert!(len < limits.max_peek(), "Partial after max_peek bytes");
        }
        Err(Error::Malformed { protocol: p, .. } | Error::TooLarge { protocol: p }) => {
            assert_eq!(*p, protocol);
        }
        Err(Error::NoMatch) => {}
    }
}

/// Detection with only `protocol` enabled: a consistent answer, the same
/// with every protocol enabled when `protocol` claimed the bytes, and the
/// same over any split into reads; under default and small limits.
pub fn check_detect(data: &[u8], protocol: Protocol) {
    let only = ProtocolSet::only(protocol);
    let cuts = cuts(data);
    for limits in [Limits::default(), SMALL_LIMITS] {
        let whole = detect(data, only, &limits);
        check_answer(&whole, protocol, data.len(), &limits);
        if !matches!(whole, Ok(Status::Partial) | Err(Error::NoMatch)) {
            // Claims are disjoint: no other detector can change the answer.
            assert_eq!(detect(data, ProtocolSet::ALL, &limits), whole);
        }
        let fed = in_reads(data, &cuts, |buf| detect(buf, only, &limits));
        assert_eq!(fed, whole, "split at {cuts:?}");
    }
}

/// `proxy::parse` agrees with `could_be_proxy`, stays within the input and
/// does not depend on how the input is split.
pub fn check_proxy_parse(data: &[u8]) {
    let whole = proxy::parse(data);
    match &whole {
        Ok(Status::Complete(h)) => {
            assert!(h.consume <= data.len());
            assert!(h.consume <= proxy::MAX_V2_LEN);
            assert_eq!(h.source.is_some(), h.destination.is_some());
            assert!(proxy::could_be_proxy(data));
        }
        Ok(Status::Partial) => assert!(proxy::could_be_proxy(data)),
        Err(ProxyError::NotProxy) => assert!(!proxy::could_be_proxy(data)),
        Err(_) => assert!(proxy::could_be_proxy(data)),
    }
    let fed = in_reads(data, &cuts(data), proxy::parse);
    assert_eq!(fed, whole);
}

/// Reads bytes from the front of the input, zeros once it runs out.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            if let Some((&first, rest)) = self.0.split_first() {
                *b = first;
                self.0 = rest;
            }
        }
        out
    }

    fn addr(&mut self, v6: bool) -> SocketAddr {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.take::<16>()))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.take::<4>()))
        };
        SocketAddr::new(ip, u16::from_be_bytes(self.take::<2>()))
    }
}

/// An address as IPv6 (IPv4 mapped).
fn to_v6(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), addr.port()),
        IpAddr::V6(_) => addr,
    }
}

/// Addresses taken from the input, encoded as v1 and v2 headers followed by
/// the rest of the input, parse back to the same addresses (both IPv6 when
/// the families differ) and the header's length.
pub fn check_proxy_round_trip(data: &[u8]) {
    let mut cursor = Cursor(data);
    let [flags] = cursor.take::<1>();
    let src = cursor.addr(flags & 1 != 0);
    let dst = cursor.addr(flags & 2 != 0);
    let rest = cursor.0;
    let (want_src, want_dst) = if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (to_v6(src), to_v6(dst))
    };
    for header in [proxy::encode_v1(src, dst), proxy::encode_v2(src, dst)] {
        let mut buf = header.clone();
        buf.extend_from_slice(rest);
        let want = ProxyHeader {
            source: Some(want_src),
            destination: Some(want_dst),
            consume: header.len(),
        };
        assert_eq!(proxy::parse(&buf), Ok(Status::Complete(want)), "{buf:?}");
    }
}

/// Splits fuzz input into datagrams (or plaintext payloads): each is a
/// 2-byte big-endian length and that many bytes; the last takes what is
/// left when the input runs short. The seeds in `fuzz/seeds/detect_quic`
/// use this framing.
pub fn datagrams(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (datagram, after) = rest.split_at(len);
        out.push(datagram);
        data = after;
    }
    out
}

/// Checks one QUIC answer.
fn check_quic_answer(answer: &QuicVerdict) {
    if let QuicVerdict::Complete(d) = answer {
        assert_eq!(d.protocol, Protocol::Quic);
        assert!(d.tls.is_some());
        assert!(d.http.is_none() && d.connect.is_none() && d.socks5.is_none());
        assert_eq!(d.consume, 0);
    }
}

/// Feeds the datagrams of `data` to an [`InitialReader`]: consistent
/// answers; `NotQuic` and `UnknownVersion` only for a fresh reader and
/// leaving it fresh; final answers that stay; the same answers from a
/// second reader; a Version Negotiation answer only for an unknown version;
/// under default and small limits.
pub fn check_quic(data: &[u8]) {
    let datagrams = datagrams(data);
    for limits in [Limits::default(), SMALL_LIMITS] {
        let mut reader = InitialReader::new(&limits);
        let mut twin = InitialReader::new(&limits);
        let mut started = false;
        let mut last: Option<QuicVerdict> = None;
        for d in &datagrams {
            let answer = reader.push(d);
            check_quic_answer(&answer);
            assert_eq!(twin.push(d), answer, "not deterministic");
            if let Some(done @ (QuicVerdict::Complete(_) | QuicVerdict::Invalid(_))) = &last {
                assert_eq!(&answer, done, "a final answer changed");
            }
            match &answer {
                QuicVerdict::NotQuic | QuicVerdict::UnknownVersion(_) => {
                    assert!(!started, "{answer:?} for a started flow");
                }
                QuicVerdict::NeedMore => started = true,
                QuicVerdict::Complete(_) | QuicVerdict::Invalid(_) => {}
            }
            let vn = version_negotiation(d);
            if let Some(vn) = &vn {
                assert!(d.len() >= 1200);
                assert_eq!(vn.get(1..5), Some(&[0u8; 4][..]));
                assert!(matches!(
                    InitialReader::new(&limits).push(d),
                    QuicVerdict::UnknownVersion(v) if v != 0
                ));
            }
            last = Some(answer);
        }
    }
}

/// Reads the chunks of `data` as decrypted Initial payloads (frames, CRYPTO
/// reassembly, the ClientHello), which encrypted input rarely reaches:
/// consistent and deterministic answers under default and small limits.
pub fn check_quic_frames(data: &[u8]) {
    let payloads = datagrams(data);
    for limits in [Limits::default(), SMALL_LIMITS] {
        let answer = read_plaintext_payloads(payloads.iter().copied(), &limits);
        check_quic_answer(&answer);
        assert!(!matches!(
            answer,
            QuicVerdict::NotQuic | QuicVerdict::UnknownVersion(_)
        ));
        assert_eq!(read_plaintext_payloads(payloads.iter().copied(), &limits), answer);
    }
}
