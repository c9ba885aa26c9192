//! The vocabulary of detection: protocols, limits, outcomes and errors.

use crate::hostname::Hostname;
use crate::socks5::Greeting;
use crate::target::ProxyRequest;

/// A protocol the gateway can recognise from a client's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// A TLS ClientHello (any version the record layer allows).
    Tls,
    /// HTTP/1.0 or HTTP/1.1, or the HTTP/2 prior-knowledge preface.
    Http,
    /// An XMPP stream header (client-to-server or server-to-server).
    Xmpp,
    /// A `DIAL host[:port]` line.
    Dial,
    /// An SSH client's identification banner (`SSH-2.0-…`); carries no name.
    Ssh,
    /// An HTTP/1.x `CONNECT host:port` proxy request.
    Connect,
    /// A SOCKS5 (RFC 1928) greeting.
    Socks5,
    /// A QUIC (v1 or v2) client's Initial packets, over UDP: recognised by
    /// [`crate::quic::InitialReader`], never by [`crate::detect()`], which
    /// reads TCP streams.
    Quic,
    /// Anything else, or a client that stays silent. No detector recognises
    /// it: [`crate::detect()`] never returns it; the gateway assigns it when
    /// no enabled detector matched or the client sent nothing in time.
    Other,
}

impl Protocol {
    /// Every protocol, in the order detection tries them; [`Protocol::Other`],
    /// which no detector recognises, is last. [`Protocol::Quic`] is listed
    /// but is never found in a TCP stream.
    pub const ALL: [Protocol; 9] = [
        Protocol::Tls,
        Protocol::Http,
        Protocol::Xmpp,
        Protocol::Dial,
        Protocol::Ssh,
        Protocol::Connect,
        Protocol::Socks5,
        Protocol::Quic,
        Protocol::Other,
    ];

    /// The lower-case name used in configuration, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tls => "tls",
            Protocol::Http => "http",
            Protocol::Xmpp => "xmpp",
            Protocol::Dial => "dial",
            Protocol::Ssh => "ssh",
            Protocol::Connect => "connect",
            Protocol::Socks5 => "socks5",
            Protocol::Quic => "quic",
            Protocol::Other => "other",
        }
    }

    /// Parses a configuration name (`"tls"`, `"http"`, `"xmpp"`, `"dial"`,
    /// `"ssh"`, `"connect"`, `"socks5"`, `"quic"`, `"other"`).
    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl Protocol {
    /// Whether this protocol arrives in UDP datagrams ([`Protocol::Quic`])
    /// rather than on a TCP stream: a TCP listener cannot enable it.
    pub fn is_udp(self) -> bool {
        matches!(self, Protocol::Quic)
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Protocol`]s, as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProtocolSet(u16);

impl ProtocolSet {
    /// No protocol.
    pub const EMPTY: ProtocolSet = ProtocolSet(0);
    /// Every protocol, [`Protocol::Other`] and [`Protocol::Quic`] included.
    pub const ALL: ProtocolSet = ProtocolSet(0x1ff);
    /// Every protocol a TCP listener can enable: [`ProtocolSet::ALL`]
    /// without [`Protocol::Quic`].
    pub const TCP: ProtocolSet = ProtocolSet(0xff);
    /// The protocols that carry a hostname on TCP: TLS, HTTP, XMPP and dial
    /// (the default set of listeners and routes).
    pub const NAMED: ProtocolSet = ProtocolSet(0b1111);

    fn bit(p: Protocol) -> u16 {
        match p {
            Protocol::Tls => 1,
            Protocol::Http => 2,
            Protocol::Xmpp => 4,
            Protocol::Dial => 8,
            Protocol::Ssh => 16,
            Protocol::Connect => 32,
            Protocol::Socks5 => 64,
            Protocol::Other => 128,
            Protocol::Quic => 256,
        }
    }

    /// The set holding just `p`.
    pub fn only(p: Protocol) -> ProtocolSet {
        ProtocolSet(Self::bit(p))
    }

    /// This set with `p` added.
    #[must_use]
    pub fn with(self, p: Protocol) -> ProtocolSet {
        ProtocolSet(self.0 | Self::bit(p))
    }

    /// This set with `p` removed.
    #[must_use]
    pub fn without(self, p: Protocol) -> ProtocolSet {
        ProtocolSet(self.0 & !Self::bit(p))
    }

    /// Whether `p` is in the set.
    pub fn contains(self, p: Protocol) -> bool {
        self.0 & Self::bit(p) != 0
    }

    /// Whether the two sets share a protocol.
    pub fn intersects(self, other: ProtocolSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The protocols in the set, in detection order.
    pub fn iter(self) -> impl Iterator<Item = Protocol> {
        Protocol::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Protocol> for ProtocolSet {
    fn from_iter<I: IntoIterator<Item = Protocol>>(iter: I) -> Self {
        iter.into_iter().fold(ProtocolSet::EMPTY, ProtocolSet::with)
    }
}

/// Caps on how many bytes each detector may look at before it gives up with
/// [`Error::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest TLS ClientHello handshake message reassembled, in bytes
    /// (default 16 KiB; post-quantum hellos are about 1.8 KiB and more).
    pub tls_hello: usize,
    /// The largest HTTP/1.x request line plus header section (default 16 KiB).
    pub http_head: usize,
    /// The most headers an HTTP/1.x request may carry (default 100).
    pub http_headers: usize,
    /// The largest XMPP prologue plus stream header (default 4 KiB).
    pub xmpp_head: usize,
    /// The most datagrams a QUIC flow may send before its Initial packets
    /// hold a whole ClientHello (default 8; a post-quantum hello needs 2).
    /// The ClientHello itself is capped by [`Limits::tls_hello`].
    pub quic_datagrams: usize,
}

impl Limits {
    /// Default TLS ClientHello cap.
    pub const DEFAULT_TLS_HELLO: usize = 16 * 1024;
    /// Default HTTP head cap.
    pub const DEFAULT_HTTP_HEAD: usize = 16 * 1024;
    /// Default HTTP header count cap.
    pub(crate) const DEFAULT_HTTP_HEADERS: usize = 100;
    /// Default XMPP head cap.
    pub const DEFAULT_XMPP_HEAD: usize = 4 * 1024;
    /// Default cap on the datagrams of a QUIC flow read before its hello.
    pub const DEFAULT_QUIC_DATAGRAMS: usize = 8;

    // `max_peek`, which needs every detector's own bound, is defined beside
    // the detectors in `detect`.
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tls_hello: Self::DEFAULT_TLS_HELLO,
            http_head: Self::DEFAULT_HTTP_HEAD,
            http_headers: Self::DEFAULT_HTTP_HEADERS,
            xmpp_head: Self::DEFAULT_XMPP_HEAD,
            quic_datagrams: Self::DEFAULT_QUIC_DATAGRAMS,
        }
    }
}

/// What a TLS ClientHello told us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    /// ALPN protocol names the client offered, in its order.
    pub alpn: Vec<Vec<u8>>,
}

/// What an HTTP request head told us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Http {
    /// The request method, e.g. `GET` (empty for the HTTP/2 preface).
    pub method: String,
    /// The request target's path (and query), e.g. `/index.html`; for an
    /// absolute-form target, only its path part. Empty for the HTTP/2 preface.
    pub path: String,
    /// `true` when the client sent the HTTP/2 prior-knowledge preface
    /// (`PRI * HTTP/2.0`), which carries no host.
    pub h2_preface: bool,
    /// The minor version of HTTP/1.x (0 or 1); 0 for the HTTP/2 preface.
    pub minor_version: u8,
}

/// A successful detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The protocol recognised.
    pub protocol: Protocol,
    /// The hostname the client asked for, normalised; `None` when the
    /// protocol allowed it to be absent (TLS without SNI, HTTP/1.0 without
    /// `Host`, the HTTP/2 preface, an XMPP header without `to`) and for
    /// protocols that carry no name (SSH, a SOCKS5 greeting). For `CONNECT`,
    /// the target's host; an IP literal target is its text as a [`Hostname`]
    /// (IPv6 without brackets), as for the dial line.
    pub host: Option<Hostname>,
    /// A port the client named: the dial line's `:port`, the `CONNECT`
    /// target's port. Ports in HTTP `Host` headers are stripped and not
    /// reported here.
    pub port: Option<u16>,
    /// How many leading bytes the gateway must drop before forwarding: the
    /// dial line, the `CONNECT` request head, the SOCKS5 greeting (the
    /// gateway answers the last two itself); 0 for every other protocol.
    pub consume: usize,
    /// TLS details, for [`Protocol::Tls`] and [`Protocol::Quic`] (the
    /// ClientHello carried in its CRYPTO frames).
    pub tls: Option<Tls>,
    /// HTTP details, for [`Protocol::Http`].
    pub http: Option<Http>,
    /// The proxy request, for [`Protocol::Connect`].
    pub connect: Option<ProxyRequest>,
    /// The methods the client offered, for [`Protocol::Socks5`].
    pub socks5: Option<Greeting>,
}

impl Detection {
    /// The detection the gateway assigns to what no detector recognised (or
    /// a silent client): [`Protocol::Other`], no name, nothing to consume.
    pub fn other() -> Detection {
        Detection::new(Protocol::Other, None)
    }

    /// A detection of `protocol` naming `host`, with nothing to consume and
    /// no details yet.
    pub(crate) fn new(protocol: Protocol, host: Option<Hostname>) -> Detection {
        Detection {
            protocol,
            host,
            port: None,
            consume: 0,
            tls: None,
            http: None,
            connect: None,
            socks5: None,
        }
    }
}

/// Progress of a detection over the bytes seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// More bytes are needed before any answer is possible.
    Partial,
    /// Done.
    Complete(T),
}

/// One detector's answer over the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// These bytes cannot be this protocol.
    NotMine,
    /// These bytes could still be this protocol; more are needed.
    Partial,
    /// The bytes are this protocol, and this is what they say (boxed: a
    /// detection is large, the other answers are small).
    Complete(Box<Detection>),
    /// The bytes are this protocol, but malformed.
    Malformed(Malformed),
    /// The bytes are this protocol, but its header exceeds its cap.
    TooLarge,
}

/// Why a protocol's bytes are malformed; lets the gateway log the reason and
/// pick the protocol's own refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The TLS record layer is invalid (bad content type, version or length).
    #[error("invalid TLS record")]
    TlsRecord,
    /// The first handshake message is not a ClientHello, or it does not parse.
    #[error("invalid TLS ClientHello")]
    TlsHello,
    /// The server_name extension is invalid or names something that is not a hostname.
    #[error("invalid TLS server_name")]
    TlsServerName,
    /// The HTTP request line or a header does not parse.
    #[error("invalid HTTP request")]
    HttpSyntax,
    /// More than one `Host` header (a request-smuggling vector).
    #[error("more than one Host header")]
    HttpDuplicateHost,
    /// `Host` disagrees with the authority of an absolute-form target.
    #[error("Host disagrees with the request target")]
    HttpHostMismatch,
    /// `Host` (or the target authority) is not a valid hostname.
    #[error("invalid HTTP Host")]
    HttpHost,
    /// HTTP/1.1 request without a `Host` header (RFC 9112 section 3.2).
    #[error("HTTP/1.1 request without Host")]
    HttpMissingHost,
    /// The XML prologue or stream header is not well-formed.
    #[error("malformed XML")]
    XmppXml,
    /// The root element is not a stream in the streams namespace, or the
    /// default namespace is neither `jabber:client` nor `jabber:server`.
    #[error("not an XMPP stream header")]
    XmppNotStream,
    /// The stream's `to` is not a valid hostname.
    #[error("invalid XMPP stream to")]
    XmppTo,
    /// The dial line is not `DIAL host[:port]` with a valid name and port.
    #[error("invalid DIAL line")]
    Dial,
    /// The SSH identification line is not `SSH-2.0-` or `SSH-1.99-` and a
    /// software version of printable characters, or holds a control byte.
    #[error("invalid SSH banner")]
    SshBanner,
    /// The `CONNECT` request line or header section does not parse.
    #[error("invalid CONNECT request")]
    ConnectRequest,
    /// The `CONNECT` target is not `host:port` with a valid name (or IP
    /// literal, IPv6 in brackets) and a port from 1 to 65535.
    #[error("invalid CONNECT target")]
    ConnectTarget,
    /// A SOCKS5 greeting that offers no authentication method.
    #[error("SOCKS5 greeting without methods")]
    Socks5Greeting,
}

/// Why detection ended without a route-able answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No enabled protocol can match these bytes.
    #[error("no enabled protocol matches")]
    NoMatch,
    /// The bytes are this protocol, but malformed.
    #[error("malformed {protocol}: {reason}")]
    Malformed {
        /// The protocol the bytes were recognised as.
        protocol: Protocol,
        /// What is wrong with them.
        reason: Malformed,
    },
    /// The bytes are this protocol, but its header exceeds the cap in [`Limits`].
    #[error("{protocol} header larger than the limit")]
    TooLarge {
        /// The protocol the bytes were recognised as.
        protocol: Protocol,
    },
}
