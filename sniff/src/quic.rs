//! QUIC Initial packets: the hostname (SNI) and ALPN of a QUIC v1 (RFC 9000,
//! RFC 9001) or v2 (RFC 9369) client, read from the ClientHello its Initial
//! packets carry, so that a UDP listener can route HTTP/3 by name.
//!
//! # Use
//!
//! The gateway keeps one [`InitialReader`] per flow (client address) and
//! hands it every datagram the client sends, unchanged, until the answer is
//! final:
//!
//! ```
//! use portico_sniff::{Limits, quic::{InitialReader, QuicVerdict, version_negotiation}};
//!
//! # let datagram = [0x40u8; 1200];
//! let mut reader = InitialReader::new(&Limits::default());
//! match reader.push(&datagram) {
//!     QuicVerdict::NeedMore => { /* hold the datagram, wait for the next */ }
//!     QuicVerdict::Complete(found) => { /* route by found.host; forward all */ }
//!     QuicVerdict::UnknownVersion(_) => {
//!         if let Some(answer) = version_negotiation(&datagram) { /* send it back */ }
//!     }
//!     QuicVerdict::NotQuic => { /* protocol "other" */ }
//!     QuicVerdict::Invalid(_) => { /* drop the flow */ }
//! }
//! ```
//!
//! # What is read
//!
//! - A flow's first datagram decides whether it is QUIC: a short header (or
//!   anything without the long-header bit, or fewer bytes than a long
//!   header's invariant fields) is [`QuicVerdict::NotQuic`], as is a Version
//!   Negotiation packet (version 0); a long header of any version other than
//!   v1 and v2 is [`QuicVerdict::UnknownVersion`]. Both leave the reader
//!   unchanged, so a client that retries with v1 after Version Negotiation
//!   is read from its next datagram.
//! - The Initial keys are derived, by rustls, from the Destination
//!   Connection ID of that first datagram, and kept for the flow. Every
//!   later long-header packet must be of the same version.
//! - A datagram holds packets back to back (coalesced). Each long-header
//!   packet is framed by its Length; 0-RTT and Handshake packets are
//!   skipped, as are packets whose Destination Connection ID differs from
//!   the datagram's first (RFC 9000 §12.2). Reading stops at the first byte
//!   without the long-header bit: zero padding or a short-header packet.
//! - A datagram that carries an Initial packet must be at least 1200 bytes
//!   long (RFC 9000 §14.1). Each Initial packet has its header protection
//!   removed and its payload authenticated and decrypted; a packet that
//!   fails is [`QuicError::Decrypt`] — a corrupted or forged packet never
//!   yields a name.
//! - Its frames may be PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE;
//!   anything else is [`QuicError::Frame`], and CONNECTION_CLOSE before the
//!   hello is complete is [`QuicError::Closed`]. CRYPTO data is reassembled
//!   by offset across packets and datagrams, in any order and with
//!   duplicates; overlapping bytes must agree.
//! - The CRYPTO stream must start with a ClientHello (else
//!   [`QuicError::Hello`]) of at most [`Limits::tls_hello`] bytes, and no
//!   CRYPTO data may lie past that cap (else [`QuicError::TooLarge`]). Once
//!   the whole hello has arrived, after the datagram that completed it, it
//!   is parsed by the TLS detector (same rules as for TLS over TCP) and the
//!   answer is [`QuicVerdict::Complete`] with [`Protocol::Quic`], the SNI
//!   host and the ALPN list in [`Detection::tls`].
//! - A flow that sends [`Limits::quic_datagrams`] datagrams without
//!   completing its hello is [`QuicError::TooManyDatagrams`].
//!
//! A reader holds at most about twice [`Limits::tls_hello`] bytes (the
//! CRYPTO stream and a map of which bytes arrived) plus one packet.
//! `Complete` and `Invalid` are final: later calls return them again without
//! reading. Given the same datagrams, the answer does not depend on how the
//! client split its CRYPTO data into frames, packets and datagrams, nor on
//! their order. No input makes the reader panic.
//!
//! Submodules, one job each: `header` (long headers and varints),
//! `protection` (Initial keys and packet protection removal), `frames`
//! (frames of a decrypted payload), `crypto_stream` (CRYPTO reassembly),
//! `negotiation` ([`version_negotiation`]).

mod crypto_stream;
mod frames;
mod header;
mod negotiation;
mod protection;

pub use negotiation::version_negotiation;

use crate::tls;
use crate::types::{Detection, Limits, Malformed, Protocol, Verdict};
use crypto_stream::CryptoStream;
use frames::{Frame, Frames};
use header::{LONG_HEADER, PacketType, Version};
use protection::ClientInitialKeys;

/// The smallest UDP payload that may carry a client's Initial packet (RFC
/// 9000 §14.1).
pub(crate) const MIN_INITIAL_DATAGRAM: usize = 1200;
/// A handshake message header: type, length (3).
const HANDSHAKE_HEADER_LEN: usize = 4;
/// The handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

/// The answer of [`InitialReader::push`] after a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuicVerdict {
    /// A QUIC flow whose ClientHello is not complete yet: hold the datagram
    /// and push the next one.
    NeedMore,
    /// The client's ClientHello: [`Protocol::Quic`], the SNI host (if any)
    /// and the ALPN list in [`Detection::tls`]. Final.
    Complete(Detection),
    /// The flow's first datagram is a long header of this version, neither
    /// v1 nor v2: the gateway may answer with [`version_negotiation`]. The
    /// reader is unchanged.
    UnknownVersion(u32),
    /// The flow's first datagram is not a QUIC long header (a short header,
    /// a Version Negotiation packet, or other traffic). The reader is
    /// unchanged.
    NotQuic,
    /// The flow is QUIC but cannot be routed. Final.
    Invalid(QuicError),
}

/// Why a QUIC flow cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuicError {
    /// A long header is truncated, carries a connection ID over 20 bytes,
    /// has a Length past the end of the datagram, or is too short to hold
    /// the header protection sample.
    #[error("malformed QUIC long header")]
    Header,
    /// A datagram carrying an Initial packet is shorter than 1200 bytes.
    #[error("QUIC Initial datagram shorter than 1200 bytes")]
    ShortDatagram,
    /// A long-header packet of another version than the flow's first.
    #[error("QUIC version changed within the flow")]
    VersionChanged,
    /// A Retry packet, which only servers send.
    #[error("unexpected QUIC packet type from a client")]
    UnexpectedPacket,
    /// An Initial packet failed authentication: corrupted, forged, or
    /// protected with keys of another connection ID.
    #[error("QUIC Initial packet failed authentication")]
    Decrypt,
    /// An authenticated Initial packet has its reserved header bits set.
    #[error("QUIC reserved bits set")]
    ReservedBits,
    /// A frame is truncated, malformed, or of a type not allowed in an
    /// Initial packet.
    #[error("malformed or forbidden frame in a QUIC Initial packet")]
    Frame,
    /// The client sent CONNECTION_CLOSE before its ClientHello was complete.
    #[error("QUIC client closed the connection")]
    Closed,
    /// CRYPTO frames disagree on the bytes at the same stream offsets.
    #[error("conflicting QUIC CRYPTO data")]
    CryptoMismatch,
    /// The ClientHello is larger than [`Limits::tls_hello`], or CRYPTO data
    /// lies past that cap.
    #[error("QUIC ClientHello larger than the limit")]
    TooLarge,
    /// The CRYPTO stream does not start with a ClientHello, or the hello is
    /// malformed (the reason is the TLS detector's).
    #[error("QUIC ClientHello: {0}")]
    Hello(Malformed),
    /// [`Limits::quic_datagrams`] datagrams arrived without a complete hello.
    #[error("too many QUIC datagrams without a complete ClientHello")]
    TooManyDatagrams,
}

/// Reads one flow's datagrams until its ClientHello is complete (see the
/// [module docs](self)).
#[derive(Debug)]
pub struct InitialReader {
    limits: Limits,
    state: State,
}

/// Where a reader is.
#[derive(Debug)]
enum State {
    /// No QUIC datagram yet.
    Fresh,
    /// A QUIC flow, hello not yet complete.
    Reading(Box<Flow>),
    /// A final answer.
    Done(QuicVerdict),
}

/// What a reader keeps about a QUIC flow.
#[derive(Debug)]
struct Flow {
    version: Version,
    keys: ClientInitialKeys,
    /// The largest Initial packet number opened.
    largest: Option<u64>,
    hello: HelloAssembler,
    datagrams: usize,
    /// Room to decrypt a packet in.
    scratch: Vec<u8>,
}

impl InitialReader {
    /// A reader for a new flow, obeying `limits` ([`Limits::tls_hello`],
    /// [`Limits::quic_datagrams`]).
    pub fn new(limits: &Limits) -> InitialReader {
        InitialReader {
            limits: *limits,
            state: State::Fresh,
        }
    }

    /// Reads the next datagram the client sent (the UDP payload).
    pub fn push(&mut self, datagram: &[u8]) -> QuicVerdict {
        if matches!(self.state, State::Fresh) {
            match start(datagram, &self.limits) {
                Ok(flow) => self.state = State::Reading(Box::new(flow)),
                Err(no_flow) => return no_flow.into(),
            }
        }
        let flow = match &mut self.state {
            State::Reading(flow) => flow,
            State::Done(verdict) => return verdict.clone(),
            // Left just above.
            State::Fresh => return QuicVerdict::NotQuic,
        };
        let verdict = match flow.read(datagram) {
            Ok(Some(found)) => QuicVerdict::Complete(found),
            Err(error) => QuicVerdict::Invalid(error),
            Ok(None) if flow.datagrams >= self.limits.quic_datagrams => {
                QuicVerdict::Invalid(QuicError::TooManyDatagrams)
            }
            Ok(None) => return QuicVerdict::NeedMore,
        };
        self.state = State::Done(verdict.clone());
        verdict
    }
}

/// Why a first datagram starts no flow (a small [`QuicVerdict`]).
enum NoFlow {
    NotQuic,
    UnknownVersion(u32),
    Invalid(QuicError),
}

impl From<NoFlow> for QuicVerdict {
    fn from(no_flow: NoFlow) -> QuicVerdict {
        match no_flow {
            NoFlow::NotQuic => QuicVerdict::NotQuic,
            NoFlow::UnknownVersion(version) => QuicVerdict::UnknownVersion(version),
            NoFlow::Invalid(error) => QuicVerdict::Invalid(error),
        }
    }
}

/// Starts a flow on its first datagram, or answers why it is none.
fn start(datagram: &[u8], limits: &Limits) -> Result<Flow, NoFlow> {
    let Some(long) = header::invariant(datagram) else {
        return Err(NoFlow::NotQuic);
    };
    if long.version == 0 {
        return Err(NoFlow::NotQuic);
    }
    let Some(version) = Version::from_wire(long.version) else {
        return Err(NoFlow::UnknownVersion(long.version));
    };
    // An ID over 20 bytes is refused when the packet is framed, before
    // these keys open anything.
    let keys =
        ClientInitialKeys::new(version, long.dcid).ok_or(NoFlow::Invalid(QuicError::Decrypt))?;
    Ok(Flow {
        version,
        keys,
        largest: None,
        hello: HelloAssembler::new(limits.tls_hello),
        datagrams: 0,
        scratch: Vec::new(),
    })
}

impl Flow {
    /// Reads one datagram; returns the detection once the hello is complete.
    fn read(&mut self, datagram: &[u8]) -> Result<Option<Detection>, QuicError> {
        self.datagrams += 1;
        let mut rest = datagram;
        let mut first_dcid: Option<&[u8]> = None;
        while rest.first().is_some_and(|&b| b & LONG_HEADER != 0) {
            let long = header::invariant(rest).ok_or(QuicError::Header)?;
            if Version::from_wire(long.version) != Some(self.version) {
                return Err(QuicError::VersionChanged);
            }
            let packet = header::packet(rest, self.version)?;
            let (bytes, after) = rest.split_at_checked(packet.len).ok_or(QuicError::Header)?;
            rest = after;
            let dcid = *first_dcid.get_or_insert(packet.dcid);
            if packet.kind != PacketType::Initial || packet.dcid != dcid {
                continue;
            }
            if datagram.len() < MIN_INITIAL_DATAGRAM {
                return Err(QuicError::ShortDatagram);
            }
            let (number, plain) =
                self.keys
                    .open(bytes, packet.pn_offset, self.largest, &mut self.scratch)?;
            self.largest = Some(self.largest.map_or(number, |l| l.max(number)));
            self.hello.frames(plain)?;
        }
        self.hello.complete()
    }
}

/// Frames to CRYPTO stream to ClientHello: what the decrypted payloads of a
/// flow's Initial packets add up to.
#[derive(Debug, Clone)]
struct HelloAssembler {
    stream: CryptoStream,
    tls_hello: usize,
}

impl HelloAssembler {
    fn new(tls_hello: usize) -> HelloAssembler {
        HelloAssembler {
            stream: CryptoStream::new(tls_hello.saturating_add(HANDSHAKE_HEADER_LEN)),
            tls_hello,
        }
    }

    /// Reads the frames of one decrypted Initial payload.
    fn frames(&mut self, payload: &[u8]) -> Result<(), QuicError> {
        for frame in Frames::new(payload) {
            match frame? {
                Frame::Ignored | Frame::Ack => {}
                Frame::Crypto { offset, data } => self.stream.insert(offset, data)?,
                Frame::ConnectionClose => return Err(QuicError::Closed),
            }
        }
        Ok(())
    }

    /// The detection, once the stream holds a whole ClientHello.
    fn complete(&self) -> Result<Option<Detection>, QuicError> {
        let stream = self.stream.contiguous();
        let Some((&kind, rest)) = stream.split_first() else {
            return Ok(None);
        };
        if kind != HANDSHAKE_CLIENT_HELLO {
            return Err(QuicError::Hello(Malformed::TlsHello));
        }
        let Some((len, body)) = rest.split_first_chunk::<3>() else {
            return Ok(None);
        };
        let len = len.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        if len > self.tls_hello {
            return Err(QuicError::TooLarge);
        }
        let Some(body) = body.get(..len) else {
            return Ok(None);
        };
        match tls::client_hello(body) {
            Verdict::Complete(found) => {
                let mut found = *found;
                found.protocol = Protocol::Quic;
                Ok(Some(found))
            }
            Verdict::Malformed(reason) => Err(QuicError::Hello(reason)),
            Verdict::NotMine | Verdict::Partial | Verdict::TooLarge => {
                Err(QuicError::Hello(Malformed::TlsHello))
            }
        }
    }
}

/// Reads decrypted Initial payloads, one per packet, as
/// [`InitialReader::push`] reads the payloads it decrypts: frames, CRYPTO
/// reassembly, the ClientHello. For fuzzing the plaintext side, which
/// encrypted input rarely reaches; not part of the API.
#[doc(hidden)]
pub fn read_plaintext_payloads<'a>(
    payloads: impl IntoIterator<Item = &'a [u8]>,
    limits: &Limits,
) -> QuicVerdict {
    let mut hello = HelloAssembler::new(limits.tls_hello);
    for payload in payloads {
        let answer = hello.frames(payload).and_then(|()| hello.complete());
        match answer {
            Ok(Some(found)) => return QuicVerdict::Complete(found),
            Ok(None) => {}
            Err(error) => return QuicVerdict::Invalid(error),
        }
    }
    QuicVerdict::NeedMore
}

#[cfg(test)]
mod tests;
