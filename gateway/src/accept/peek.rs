//! Reading a client's first bytes until detection decides: a buffer capped by
//! the sniff limits, one deadline (`peek_timeout`) for the whole decision,
//! and the PROXY-header rules of the listener's `accept_proxy`.
//!
//! From a trusted source the connection must start with a PROXY v1/v2
//! header, whose source becomes the client address; detection then runs over
//! the rest. From any other source, bytes that are a PROXY header are
//! refused. The bytes read after the PROXY header are kept for the backend.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use portico_sniff::{Detection, Error as SniffError, Limits, Protocol, ProtocolSet, Status};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::listener::normalise;
use super::proxy::{self, HeaderParse};

/// The longest PROXY header accepted from a trusted balancer (v2 headers
/// with TLVs included).
pub const PROXY_HEADER_MAX: usize = 4096;

/// Bytes after which an untrusted stream that still looks like a PROXY
/// header is refused (both signatures are decisive by then).
const PROXY_DECISIVE_LEN: usize = 12;

/// Bytes read per call at most.
const READ_CHUNK: usize = 4096;

/// Reads allowed before a decision. Detection re-runs over the whole buffer
/// after each read, so this bounds the work a client dribbling one byte per
/// segment can cause; real clients need a handful.
pub const MAX_READS: usize = 256;

/// How one listener peeks.
#[derive(Debug, Clone)]
pub struct PeekSettings {
    /// Protocols detected here.
    pub protocols: ProtocolSet,
    /// Detection caps.
    pub limits: Limits,
    /// Deadline for the whole decision.
    pub timeout: Duration,
    /// Sources that must send a PROXY header.
    pub accept_proxy: Vec<IpNet>,
    /// A client silent this long is [`Protocol::Other`] (`other_after`;
    /// only set with `other` among `protocols`). Zero: no peek at all.
    pub other_after: Option<Duration>,
}

impl PeekSettings {
    /// Whether bytes no enabled detector recognises are `other`.
    fn takes_other(&self) -> bool {
        self.protocols.contains(Protocol::Other)
    }
}

/// A decided connection.
#[derive(Debug)]
pub struct Peeked {
    /// What detection found.
    pub detection: Detection,
    /// The bytes read after any PROXY header, dial line included.
    pub buf: Vec<u8>,
    /// The client: the PROXY header's source, or the peer.
    pub client: SocketAddr,
    /// The address the client reached: the PROXY header's destination, or
    /// the local address.
    pub reached: SocketAddr,
}

/// Why no decision was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeekError {
    /// `peek_timeout` passed.
    Timeout,
    /// The client closed (or reset) before a decision.
    Closed,
    /// Detection failed.
    Sniff(SniffError),
    /// A trusted source did not start with a valid PROXY header.
    ProxyRequired,
    /// An untrusted source sent a PROXY header.
    ProxyForbidden,
    /// The buffer reached its cap without a decision.
    Full,
    /// More than [`MAX_READS`] reads without a decision.
    Fragmented,
}

/// A failed peek, with what was read (for the refusal's wording).
#[derive(Debug)]
pub struct PeekFailure {
    /// Why.
    pub error: PeekError,
    /// The bytes read after any PROXY header.
    pub buf: Vec<u8>,
    /// The client address (after any PROXY header).
    pub client: SocketAddr,
}

/// Appends at most `cap - buf.len()` bytes (and at most one chunk) from
/// `stream`. Returns how many bytes arrived; 0 means end of stream.
async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<usize> {
    let room = cap.saturating_sub(buf.len()).min(READ_CHUNK);
    buf.reserve(room);
    let mut limited = (&mut *stream).take(room as u64);
    limited.read_buf(buf).await
}

/// Reads until `stream` is decided, under one deadline of `settings.timeout`.
pub async fn peek<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    local: SocketAddr,
    settings: &PeekSettings,
) -> Result<Peeked, PeekFailure> {
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let mut buf = Vec::new();
    let mut client = normalise(peer);
    let mut reached = normalise(local);
    let fail = |error, buf, client| Err(PeekFailure { error, buf, client });
    let mut reads = 0usize;

    if settings
        .accept_proxy
        .iter()
        .any(|net| net.contains(&client.ip()))
    {
        loop {
            match proxy::parse_header(&buf) {
                HeaderParse::Complete {
                    source,
                    destination,
                    consume,
                } => {
                    client = source.map(normalise).unwrap_or(client);
                    reached = destination.map(normalise).unwrap_or(reached);
                    buf.drain(..consume.min(buf.len()));
                    break;
                }
                HeaderParse::Invalid => return fail(PeekError::ProxyRequired, buf, client),
                HeaderParse::Partial if buf.len() >= PROXY_HEADER_MAX => {
                    return fail(PeekError::ProxyRequired, buf, client);
                }
                HeaderParse::Partial => {}
            }
            match tokio::time::timeout_at(deadline, read_more(stream, &mut buf, PROXY_HEADER_MAX))
                .await
            {
                Err(_) => return fail(PeekError::Timeout, buf, client),
                Ok(Ok(0) | Err(_)) => return fail(PeekError::Closed, buf, client),
                Ok(Ok(_)) => {}
            }
        }
    }

    let decided = |detection, buf, client| {
        Ok(Peeked {
            detection,
            buf,
            client,
            reached,
        })
    };
    // `other_after = "0s"`: a pure port forward, no wait for the client.
    let silent_after = match settings.other_after {
        Some(wait) if settings.takes_other() && wait.is_zero() => {
            return decided(Detection::other(), buf, client);
        }
        Some(wait) if settings.takes_other() => {
            Some(tokio::time::Instant::now() + wait).filter(|at| *at < deadline)
        }
        _ => None,
    };
    let cap = settings.limits.max_peek();
    loop {
        if !buf.is_empty() {
            match portico_sniff::detect(&buf, settings.protocols, &settings.limits) {
                Ok(Status::Complete(detection)) => return decided(detection, buf, client),
                Ok(Status::Partial) => {
                    if buf.len() >= PROXY_DECISIVE_LEN && proxy::could_be_header(&buf) {
                        return fail(PeekError::ProxyForbidden, buf, client);
                    }
                }
                Err(SniffError::NoMatch)
                    if settings.takes_other() && !proxy::could_be_header(&buf) =>
                {
                    return decided(Detection::other(), buf, client);
                }
                Err(error) => {
                    let error = if proxy::could_be_header(&buf) {
                        PeekError::ProxyForbidden
                    } else {
                        PeekError::Sniff(error)
                    };
                    return fail(error, buf, client);
                }
            }
            if buf.len() >= cap {
                return fail(PeekError::Full, buf, client);
            }
        }
        reads += 1;
        if reads > MAX_READS {
            return fail(PeekError::Fragmented, buf, client);
        }
        // Silence until `other_after` makes the client `other`.
        let wait_until = match silent_after {
            Some(at) if buf.is_empty() => at,
            _ => deadline,
        };
        match tokio::time::timeout_at(wait_until, read_more(stream, &mut buf, cap)).await {
            Err(_) if buf.is_empty() && wait_until < deadline => {
                return decided(Detection::other(), buf, client);
            }
            Err(_) => return fail(PeekError::Timeout, buf, client),
            Ok(Ok(0) | Err(_)) => return fail(PeekError::Closed, buf, client),
            Ok(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_sniff::Protocol;
    use tokio::io::{AsyncWriteExt, DuplexStream};

    const PEER: &str = "127.0.0.1:5000";
    const LOCAL: &str = "127.0.0.1:443";
    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";

    fn settings(accept_proxy: &[&str]) -> PeekSettings {
        PeekSettings {
            protocols: ProtocolSet::NAMED,
            limits: Limits::default(),
            timeout: Duration::from_secs(5),
            accept_proxy: accept_proxy
                .iter()
                .map(|n| n.parse().expect("net"))
                .collect(),
            other_after: None,
        }
    }

    /// `settings` with `other` enabled and `other_after` set.
    fn with_other(accept_proxy: &[&str], other_after: Duration) -> PeekSettings {
        let mut s = settings(accept_proxy);
        s.protocols = s.protocols.with(Protocol::Ssh).with(Protocol::Other);
        s.other_after = Some(other_after);
        s
    }

    /// A stream whose peer writes `chunks` one by one (with `pause` between),
    /// then keeps the stream open or closes it.
    fn client(chunks: Vec<Vec<u8>>, pause: Duration, close: bool) -> DuplexStream {
        let (near, mut far) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            for chunk in chunks {
                if far.write_all(&chunk).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
            if !close {
                // Hold the stream open until the reader is gone.
                let mut sink = [0u8; 1];
                let _ = tokio::io::AsyncReadExt::read(&mut far, &mut sink).await;
            }
        });
        near
    }

    async fn run(
        stream: &mut DuplexStream,
        settings: &PeekSettings,
    ) -> Result<Peeked, PeekFailure> {
        peek(
            stream,
            PEER.parse().expect("peer"),
            LOCAL.parse().expect("local"),
            settings,
        )
        .await
    }

    #[tokio::test]
    async fn byte_by_byte_gives_the_same_decision() {
        let chunks = REQUEST.iter().map(|b| vec![*b]).collect();
        let mut stream = client(chunks, Duration::ZERO, false);
        let peeked = run(&mut stream, &settings(&[])).await.expect("decided");
        assert_eq!(peeked.detection.protocol, Protocol::Http);
        assert_eq!(
            peeked.detection.host.as_ref().map(|h| h.as_str()),
            Some("a.test")
        );
        assert_eq!(peeked.buf, REQUEST);
        assert_eq!(peeked.client, PEER.parse().expect("peer"));
    }

    #[tokio::test]
    async fn trusted_proxy_header_names_the_client() {
        let mut sent = b"PROXY TCP4 192.0.2.9 198.51.100.1 40000 443\r\n".to_vec();
        sent.extend_from_slice(REQUEST);
        let mut stream = client(vec![sent], Duration::ZERO, false);
        let peeked = run(&mut stream, &settings(&["127.0.0.0/8"]))
            .await
            .expect("decided");
        assert_eq!(peeked.client, "192.0.2.9:40000".parse().expect("addr"));
        assert_eq!(peeked.reached, "198.51.100.1:443".parse().expect("addr"));
        assert_eq!(
            peeked.buf, REQUEST,
            "the header is not kept for the backend"
        );
    }

    #[tokio::test]
    async fn trusted_source_without_header_is_refused() {
        let mut stream = client(vec![REQUEST.to_vec()], Duration::ZERO, false);
        let failure = run(&mut stream, &settings(&["127.0.0.1/32"]))
            .await
            .expect_err("refused");
        assert_eq!(failure.error, PeekError::ProxyRequired);
    }

    #[tokio::test]
    async fn untrusted_proxy_header_is_refused() {
        let mut sent = b"PROXY TCP4 192.0.2.9 198.51.100.1 40000 443\r\n".to_vec();
        sent.extend_from_slice(REQUEST);
        let mut stream = client(vec![sent], Duration::ZERO, false);
        let failure = run(&mut stream, &settings(&["10.0.0.0/8"]))
            .await
            .expect_err("refused");
        assert_eq!(failure.error, PeekError::ProxyForbidden);
        let mut v2 = portico_sniff::proxy::encode_v2(
            "192.0.2.9:1".parse().expect("addr"),
            "192.0.2.10:2".parse().expect("addr"),
        );
        v2.extend_from_slice(REQUEST);
        let mut stream = client(vec![v2], Duration::ZERO, false);
        let failure = run(&mut stream, &settings(&[])).await.expect_err("refused");
        assert_eq!(failure.error, PeekError::ProxyForbidden);
    }

    #[tokio::test]
    async fn the_deadline_covers_the_whole_decision() {
        // Every read succeeds quickly, but the request never completes in time.
        let chunks = REQUEST.iter().map(|b| vec![*b]).collect();
        let mut stream = client(chunks, Duration::from_millis(100), false);
        let mut s = settings(&[]);
        s.timeout = Duration::from_millis(250);
        let failure = run(&mut stream, &s).await.expect_err("timed out");
        assert_eq!(failure.error, PeekError::Timeout);
        assert!(!failure.buf.is_empty() && failure.buf.len() < REQUEST.len());
    }

    #[tokio::test]
    async fn close_before_decision_is_reported() {
        let mut stream = client(vec![b"GET / HT".to_vec()], Duration::ZERO, true);
        let failure = run(&mut stream, &settings(&[])).await.expect_err("closed");
        assert_eq!(failure.error, PeekError::Closed);
        assert_eq!(failure.buf, b"GET / HT");
    }

    #[tokio::test]
    async fn oversized_head_is_refused_within_the_cap() {
        let mut s = settings(&[]);
        s.limits.http_head = 1024;
        let mut big = b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Fill: ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 64 * 1024 - big.len()));
        let mut stream = client(vec![big], Duration::ZERO, false);
        let failure = run(&mut stream, &s).await.expect_err("too large");
        assert_eq!(
            failure.error,
            PeekError::Sniff(SniffError::TooLarge {
                protocol: Protocol::Http
            })
        );
        assert!(failure.buf.len() <= s.limits.max_peek());
    }

    #[tokio::test]
    async fn too_many_reads_without_a_decision_are_refused() {
        // A long header sent one byte per write: more reads than allowed.
        let mut request = b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Fill: ".to_vec();
        request.extend(std::iter::repeat_n(b'x', MAX_READS));
        let chunks = request.iter().map(|b| vec![*b]).collect();
        let mut stream = client(chunks, Duration::from_millis(1), false);
        let failure = run(&mut stream, &settings(&[])).await.expect_err("refused");
        assert_eq!(failure.error, PeekError::Fragmented);
    }

    #[tokio::test]
    async fn zero_other_after_decides_without_reading() {
        // The client sends an HTTP request, but nothing is read: a pure port
        // forward hands every byte to the backend.
        let mut stream = client(vec![REQUEST.to_vec()], Duration::ZERO, false);
        let peeked = run(&mut stream, &with_other(&[], Duration::ZERO))
            .await
            .expect("decided");
        assert_eq!(peeked.detection.protocol, Protocol::Other);
        assert!(peeked.buf.is_empty());
    }

    #[tokio::test]
    async fn zero_other_after_still_reads_a_trusted_proxy_header() {
        let mut sent = b"PROXY TCP4 192.0.2.9 198.51.100.1 40000 25\r\n".to_vec();
        sent.extend_from_slice(b"EHLO x\r\n");
        let mut stream = client(vec![sent], Duration::ZERO, false);
        let peeked = run(&mut stream, &with_other(&["127.0.0.0/8"], Duration::ZERO))
            .await
            .expect("decided");
        assert_eq!(peeked.detection.protocol, Protocol::Other);
        assert_eq!(peeked.client, "192.0.2.9:40000".parse().expect("addr"));
        // What arrived with the header is kept for the backend.
        assert!(b"EHLO x\r\n".starts_with(&peeked.buf));
    }

    #[tokio::test]
    async fn a_silent_client_becomes_other_after_the_wait() {
        let mut stream = client(Vec::new(), Duration::ZERO, false);
        let peeked = run(&mut stream, &with_other(&[], Duration::from_millis(50)))
            .await
            .expect("decided");
        assert_eq!(peeked.detection.protocol, Protocol::Other);
        assert!(peeked.buf.is_empty());
    }

    #[tokio::test]
    async fn unrecognised_bytes_are_other_and_kept() {
        let mut stream = client(vec![b"\x00\x01binary".to_vec()], Duration::ZERO, false);
        let peeked = run(&mut stream, &with_other(&[], Duration::from_secs(5)))
            .await
            .expect("decided");
        assert_eq!(peeked.detection.protocol, Protocol::Other);
        assert_eq!(peeked.buf, b"\x00\x01binary");
    }

    #[tokio::test]
    async fn recognised_protocols_still_win_over_other() {
        let mut stream = client(
            vec![b"SSH-2.0-OpenSSH_9.9\r\n".to_vec()],
            Duration::ZERO,
            false,
        );
        let peeked = run(&mut stream, &with_other(&[], Duration::from_secs(5)))
            .await
            .expect("decided");
        assert_eq!(peeked.detection.protocol, Protocol::Ssh);
    }

    #[tokio::test]
    async fn silence_without_other_times_out() {
        let mut stream = client(Vec::new(), Duration::ZERO, false);
        let mut s = settings(&[]);
        s.timeout = Duration::from_millis(50);
        let failure = run(&mut stream, &s).await.expect_err("timed out");
        assert_eq!(failure.error, PeekError::Timeout);
    }
}
