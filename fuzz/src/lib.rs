//! Checks shared by the fuzz targets: each panics (which libFuzzer reports
//! as a crash) when `portico-sniff` breaks one of its promises.
//!
//! Split points are derived from a hash of the input, so every mutation the
//! fuzzer makes also moves them; inputs of up to [`BYTEWISE_MAX`] bytes are
//! also fed one byte at a time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use portico_sniff::proxy::{self, ProxyError, ProxyHeader};
use portico_sniff::socks5::{self, Request, Socks5Error};
use portico_sniff::quic::read_plaintext_payloads;
use portico_sniff::{
    Credentials, Detection, Error, InitialReader, Limits, Protocol, ProtocolSet, ProxyTarget,
    QuicVerdict, Status, detect, version_negotiation,
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
            // The gateway answers dial lines, CONNECT heads and SOCKS5
            // greetings itself and drops them; everything else is forwarded.
            let answered = matches!(
                protocol,
                Protocol::Dial | Protocol::Connect | Protocol::Socks5
            );
            assert_eq!(d.consume > 0, answered);
            assert_eq!(d.tls.is_some(), protocol == Protocol::Tls);
            assert_eq!(d.http.is_some(), protocol == Protocol::Http);
            assert_eq!(d.connect.is_some(), protocol == Protocol::Connect);
            assert_eq!(d.socks5.is_some(), protocol == Protocol::Socks5);
            match (protocol, &d.connect) {
                (Protocol::Ssh | Protocol::Socks5, _) => {
                    assert_eq!((&d.host, d.port), (&None, None));
                }
                (Protocol::Connect, Some(request)) => {
                    assert_eq!(d.host, Some(request.target.to_hostname()));
                    assert_eq!(d.port, Some(request.port));
                    assert_ne!(request.port, 0);
                }
                _ => {}
            }
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

/// The longest SOCKS5 greeting: version, count and 255 methods.
const GREETING_MAX: usize = 2 + 255;
/// The longest RFC 1929 message: version, two lengths, 255 + 255 bytes.
const AUTH_MAX: usize = 1 + 1 + 255 + 1 + 255;
/// The longest RFC 1928 request: header, a 255-byte name, the port.
const REQUEST_MAX: usize = 4 + 1 + 255 + 2;

/// The message the server side of a SOCKS5 exchange waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The greeting, through `detect`.
    Greeting,
    /// The RFC 1929 username/password message.
    Auth,
    /// The CONNECT request.
    Request,
}

/// Where a SOCKS5 exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The bytes ran out while waiting for this message.
    Waiting(Stage),
    /// `detect` refused the greeting.
    Refused(Error),
    /// The greeting offered no method the server accepts (answered `05 FF`).
    NoMethod,
    /// A message did not parse.
    Failed(Stage, Socks5Error),
    /// The request completed.
    Connected {
        /// The credentials, when username/password was chosen.
        credentials: Option<Credentials>,
        /// Where the client wants to go.
        request: Request,
    },
}

/// What one step of the exchange did.
enum Step {
    /// A message completed and was answered: the next stage is due.
    Advanced,
    /// The current message needs more bytes.
    Wait,
    /// The exchange is over.
    End(Ending),
}

/// The server side of a SOCKS5 exchange as the gateway runs it
/// (`gateway/src/handshake/socks5.rs`), without sockets: bytes go in by
/// [`Exchange::feed`], answers collect in `sent`.
pub struct Exchange {
    /// Whether users are configured (username/password is then preferred).
    users: bool,
    /// The message being read.
    stage: Stage,
    /// Bytes received and not yet parsed; after `Connected`, the bytes to
    /// forward.
    buf: Vec<u8>,
    /// Everything the server answered, in order.
    sent: Vec<u8>,
    /// The credentials of a completed RFC 1929 message.
    credentials: Option<Credentials>,
    /// Set once the exchange is over.
    ending: Option<Ending>,
}

impl Exchange {
    /// A server before the greeting.
    pub fn new(users: bool) -> Self {
        Exchange {
            users,
            stage: Stage::Greeting,
            buf: Vec::new(),
            sent: Vec::new(),
            credentials: None,
            ending: None,
        }
    }

    /// Appends one read and advances as far as the bytes allow. After a
    /// `Connected` ending the bytes are kept as data to forward; after any
    /// other ending they are dropped, as the server has closed.
    pub fn feed(&mut self, read: &[u8]) {
        if let Some(ending) = &self.ending {
            if matches!(ending, Ending::Connected { .. }) {
                self.buf.extend_from_slice(read);
            }
            return;
        }
        self.buf.extend_from_slice(read);
        // Each step either waits, ends, or moves to a later stage: three
        // stages allow at most three steps that advance.
        for _ in 0..=3 {
            match self.step() {
                Step::Advanced => {}
                Step::Wait => return,
                Step::End(ending) => {
                    self.ending = Some(ending);
                    return;
                }
            }
        }
        panic!("exchange advanced more often than it has stages");
    }

    /// The ending, the answers sent, and the bytes left to forward.
    pub fn finish(self) -> (Ending, Vec<u8>, Vec<u8>) {
        let ending = self.ending.unwrap_or(Ending::Waiting(self.stage));
        let forward = match ending {
            Ending::Connected { .. } => self.buf,
            _ => Vec::new(),
        };
        (ending, self.sent, forward)
    }

    /// Drops a parsed message of `used` bytes from the buffer.
    fn drain(&mut self, used: usize) {
        assert!(used > 0, "a {:?} message of 0 bytes", self.stage);
        assert!(used <= self.buf.len(), "used {used} > {}", self.buf.len());
        self.buf.drain(..used);
    }

    /// Parses the current stage's message from the buffer and answers it.
    fn step(&mut self) -> Step {
        match self.stage {
            Stage::Greeting => self.greeting(),
            Stage::Auth => self.auth(),
            Stage::Request => self.request(),
        }
    }

    fn greeting(&mut self) -> Step {
        let only = ProtocolSet::only(Protocol::Socks5);
        let found = match detect(&self.buf, only, &Limits::default()) {
            Ok(Status::Partial) => {
                assert!(self.buf.len() < GREETING_MAX, "greeting Partial at its cap");
                return Step::Wait;
            }
            Ok(Status::Complete(found)) => found,
            Err(e) => return Step::End(Ending::Refused(e)),
        };
        let greeting = found
            .socks5
            .expect("a SOCKS5 detection carries its greeting");
        assert_eq!(found.consume, 2 + usize::from(self.buf[1]));
        self.drain(found.consume);
        let (method, next) = if greeting.user_password && self.users {
            (socks5::USER_PASSWORD, Stage::Auth)
        } else if greeting.no_auth {
            (socks5::NO_AUTH, Stage::Request)
        } else {
            self.sent
                .extend_from_slice(&socks5::method_selection(socks5::NO_ACCEPTABLE));
            return Step::End(Ending::NoMethod);
        };
        self.sent
            .extend_from_slice(&socks5::method_selection(method));
        self.stage = next;
        Step::Advanced
    }

    fn auth(&mut self) -> Step {
        match socks5::parse_auth(&self.buf) {
            Ok(Status::Partial) => {
                assert!(self.buf.len() < AUTH_MAX, "auth Partial at its cap");
                Step::Wait
            }
            Ok(Status::Complete((credentials, used))) => {
                // version, ULEN, user, PLEN, password
                let want = 3 + credentials.user.len() + credentials.password.len();
                assert_eq!(used, want);
                self.drain(used);
                self.credentials = Some(credentials);
                self.sent.extend_from_slice(&socks5::auth_reply(true));
                self.stage = Stage::Request;
                Step::Advanced
            }
            Err(e) => {
                assert_eq!(e.reply_code(), None);
                self.sent.extend_from_slice(&socks5::auth_reply(false));
                Step::End(Ending::Failed(Stage::Auth, e))
            }
        }
    }

    fn request(&mut self) -> Step {
        match socks5::parse_request(&self.buf) {
            Ok(Status::Partial) => {
                assert!(self.buf.len() < REQUEST_MAX, "request Partial at its cap");
                Step::Wait
            }
            Ok(Status::Complete((request, used))) => {
                assert_ne!(request.port, 0);
                self.drain(used);
                // Bound to the target itself when it is an address, so that
                // the reply round-trips through the request parser.
                let bound = match request.target {
                    ProxyTarget::Ip(ip) => Some(SocketAddr::new(ip, request.port)),
                    ProxyTarget::Name(_) => None,
                };
                let reply = socks5::reply(socks5::SUCCEEDED, bound);
                if bound.is_some() {
                    check_reply_round_trip(&reply, &request);
                }
                self.sent.extend_from_slice(&reply);
                let credentials = self.credentials.take();
                Step::End(Ending::Connected {
                    credentials,
                    request,
                })
            }
            Err(e) => {
                if let Some(code) = e.reply_code() {
                    self.sent.extend_from_slice(&socks5::reply(code, None));
                }
                Step::End(Ending::Failed(Stage::Request, e))
            }
        }
    }
}

/// A success reply bound to an IP target is the request's own encoding but
/// for the code byte (`05 00 00 ATYP ADDR PORT`).
fn check_reply_round_trip(reply: &[u8], request: &Request) {
    let mut as_request = reply.to_vec();
    as_request[1] = 0x01; // CONNECT in place of the reply code
    match socks5::parse_request(&as_request) {
        Ok(Status::Complete((back, used))) => {
            assert_eq!(&back, request);
            assert_eq!(used, reply.len());
        }
        other => panic!("reply {reply:?} does not parse back: {other:?}"),
    }
}

/// Runs the server side of a SOCKS5 exchange over `data`, with and without
/// users configured: it never panics nor advances past its stages, each
/// parser decides before its message's largest size, and the ending, the
/// answers and the bytes left to forward are the same whether `data`
/// arrives in one read or in reads split at points derived from it.
pub fn check_socks5_exchange(data: &[u8]) {
    let cuts = cuts(data);
    for users in [true, false] {
        let mut whole = Exchange::new(users);
        whole.feed(data);
        let whole = whole.finish();

        let mut fed = Exchange::new(users);
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
        ends.push(data.len());
        ends.sort_unstable();
        ends.dedup();
        for end in ends {
            fed.feed(&data[start..end]);
            start = end;
        }
        assert_eq!(fed.finish(), whole, "users {users}, split at {cuts:?}");
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
