//! The stream header: the first bytes the gateway writes on every forwarded
//! connection's QUIC stream, telling the tunnel client who connected, where,
//! with which protocol and for which hostname. Sans-IO.
//!
//! Layout (all integers big-endian):
//!
//! | field | size |
//! |---|---|
//! | version ([`HEADER_VERSION`]) | 1 |
//! | length of the rest | 2 |
//! | client address: family (4 or 6), IP, port | 7 or 19 |
//! | address the client reached on the gateway, same encoding | 7 or 19 |
//! | protocol: 0 unknown, 1 tls, 2 http, 3 xmpp, 4 dial, 5 ssh, 6 connect, 7 socks5, 8 other | 1 |
//! | hostname length (0 = none), then the hostname bytes | 1 + n |
//! | optional: flags (bit 0 answer, bit 1 exit, bit 2 datagrams), then the exit port if bit 1 | 0, 1 or 3 |
//!
//! The flags are only written when one is set, so a header without them is
//! what earlier versions wrote. With *answer* the tunnel client writes one
//! byte, [`CONNECTED`], once the connection to its service (or exit target)
//! is up, before any byte of the service, and resets the stream with a code
//! from [`crate::codes`] otherwise: a proxy client is told of success only
//! then. With *exit* the hostname and the port are the target the client
//! asked for, which the tunnel client dials only if its `[[exit]]` list
//! admits it. With *datagrams* the stream is a UDP flow: its datagrams go
//! as QUIC datagrams tagged with the stream's id ([`crate::flows`]), or
//! framed on the stream by [`crate::datagram`] (a 2-byte length, then the
//! bytes) when they do not fit; the stream's end is the flow's end.

use std::net::SocketAddr;

use bytes::{Buf, BufMut};
use portico_sniff::{Hostname, HostnameError, Protocol};

use crate::wire::{self, AddrError, HEADER_VERSION};

/// Bytes before the header body: version and body length.
pub(crate) const HEADER_PREFIX_LEN: usize = 3;

/// The largest stream header accepted, prefix included, in bytes. A valid
/// header is at most 295 bytes; the rest is headroom for later versions.
pub(crate) const MAX_HEADER_LEN: usize = 1024;

/// Protocol byte: not recognised (or not sniffed).
const PROTO_UNKNOWN: u8 = 0;
/// Protocol byte: TLS.
const PROTO_TLS: u8 = 1;
/// Protocol byte: HTTP.
const PROTO_HTTP: u8 = 2;
/// Protocol byte: XMPP.
const PROTO_XMPP: u8 = 3;
/// Protocol byte: a dial line.
const PROTO_DIAL: u8 = 4;
/// Protocol byte: SSH.
const PROTO_SSH: u8 = 5;
/// Protocol byte: an HTTP `CONNECT` proxy request.
const PROTO_CONNECT: u8 = 6;
/// Protocol byte: SOCKS5.
const PROTO_SOCKS5: u8 = 7;
/// Protocol byte: anything else (no detector matched, or a silent client).
const PROTO_OTHER: u8 = 8;
/// Protocol byte: QUIC (a UDP flow named by its Initial packets).
const PROTO_QUIC: u8 = 9;

/// Flag bit: the gateway waits for [`CONNECTED`] before answering its client.
const FLAG_ANSWER: u8 = 1;
/// Flag bit: an exit target; the port follows the flags.
const FLAG_EXIT: u8 = 2;
/// Flag bit: a UDP flow; datagrams are framed on the stream.
const FLAG_DATAGRAMS: u8 = 4;

/// The byte a tunnel client writes first on an *answer* stream once its
/// side of the connection is up.
pub const CONNECTED: u8 = 0;

/// What the gateway tells the tunnel client about one forwarded connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// The client's address as the gateway saw it (or as a trusted PROXY
    /// header gave it). IPv6 flow label and scope id are not carried.
    pub client: SocketAddr,
    /// The gateway address the client connected to.
    pub reached: SocketAddr,
    /// The protocol the gateway recognised, if any.
    pub protocol: Option<Protocol>,
    /// The hostname the client asked for, if any.
    pub host: Option<Hostname>,
    /// The gateway waits for [`CONNECTED`] before it tells its client the
    /// connection is up (`CONNECT`, SOCKS5).
    pub answer: bool,
    /// An exit: dial `host` at this port, if the `[[exit]]` list admits it.
    pub exit: Option<u16>,
    /// A UDP flow: its datagrams go as QUIC datagrams ([`crate::flows`]) or
    /// framed on the stream ([`crate::datagram`]).
    pub datagrams: bool,
}

/// Why a stream header could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The version byte is not [`HEADER_VERSION`].
    #[error("unknown stream header version {0}")]
    UnknownVersion(u8),
    /// The declared length exceeds 1024 bytes (`MAX_HEADER_LEN`).
    #[error("stream header of {declared} bytes exceeds the cap of {MAX_HEADER_LEN}")]
    Oversize {
        /// The total length the prefix declared, prefix included.
        declared: usize,
    },
    /// An address family byte is neither 4 nor 6.
    #[error("unknown address family {0}")]
    BadFamily(u8),
    /// The protocol byte is not one this version knows.
    #[error("unknown protocol id {0}")]
    BadProtocol(u8),
    /// The hostname field is not a valid hostname.
    #[error("invalid hostname: {0}")]
    InvalidHostname(HostnameError),
    /// A field runs past the declared end of the header.
    #[error("stream header field runs past the declared length")]
    Truncated,
    /// The flags byte holds bits this version does not know, or says exit
    /// without a hostname.
    #[error("invalid stream header flags {0:#04x}")]
    BadFlags(u8),
    /// Bytes are left inside the declared length after the last field.
    #[error("{extra} unexpected bytes at the end of the stream header")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
}

impl From<AddrError> for HeaderError {
    fn from(err: AddrError) -> Self {
        match err {
            AddrError::Family(family) => HeaderError::BadFamily(family),
            AddrError::Truncated => HeaderError::Truncated,
        }
    }
}

impl StreamHeader {
    /// The number of bytes [`StreamHeader::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_PREFIX_LEN + self.body_len()
    }

    /// Writes the header, prefix included, to `buf`.
    pub fn encode(&self, buf: &mut impl BufMut) {
        // At most 2 * 19 + 1 + 1 + 253 bytes: always fits in a u16.
        let body_len = u16::try_from(self.body_len()).unwrap_or(u16::MAX);
        buf.put_u8(HEADER_VERSION);
        buf.put_u16(body_len);
        wire::put_addr(buf, self.client);
        wire::put_addr(buf, self.reached);
        buf.put_u8(protocol_id(self.protocol));
        match self.host_bytes() {
            Some(host) => {
                // `host_bytes` only returns names of at most 255 bytes.
                buf.put_u8(u8::try_from(host.len()).unwrap_or(0));
                buf.put_slice(host);
            }
            None => buf.put_u8(0),
        }
        let flags = self.flags();
        if flags != 0 {
            buf.put_u8(flags);
        }
        if let Some(port) = self.exit {
            buf.put_u16(port);
        }
    }

    /// The flags byte (0: none written).
    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.answer {
            flags |= FLAG_ANSWER;
        }
        if self.exit.is_some() {
            flags |= FLAG_EXIT;
        }
        if self.datagrams {
            flags |= FLAG_DATAGRAMS;
        }
        flags
    }

    /// The total header length announced by its first [`HEADER_PREFIX_LEN`]
    /// bytes, checked against the version and [`MAX_HEADER_LEN`].
    pub(crate) fn frame_len(prefix: [u8; HEADER_PREFIX_LEN]) -> Result<usize, HeaderError> {
        let [version, high, low] = prefix;
        if version != HEADER_VERSION {
            return Err(HeaderError::UnknownVersion(version));
        }
        let declared = HEADER_PREFIX_LEN + usize::from(u16::from_be_bytes([high, low]));
        if declared > MAX_HEADER_LEN {
            return Err(HeaderError::Oversize { declared });
        }
        Ok(declared)
    }

    /// Decodes one header from the front of `buf`.
    ///
    /// Returns `Ok(None)` and consumes nothing while the header is
    /// incomplete; a wrong version or an oversize length is reported as
    /// soon as the bytes that show it are present. On success exactly the
    /// header's bytes are consumed; after an error the position of `buf` is
    /// unspecified (the stream is unusable anyway).
    pub fn decode(buf: &mut impl Buf) -> Result<Option<Self>, HeaderError> {
        if let Some([version]) = wire::peek::<1>(buf)
            && version != HEADER_VERSION
        {
            return Err(HeaderError::UnknownVersion(version));
        }
        let Some(prefix) = wire::peek::<HEADER_PREFIX_LEN>(buf) else {
            return Ok(None);
        };
        let frame_len = Self::frame_len(prefix)?;
        if buf.remaining() < frame_len {
            return Ok(None);
        }
        buf.advance(HEADER_PREFIX_LEN);
        let mut body = buf.copy_to_bytes(frame_len - HEADER_PREFIX_LEN);
        let header = Self::decode_body(&mut body)?;
        if body.has_remaining() {
            return Err(HeaderError::TrailingBytes {
                extra: body.remaining(),
            });
        }
        Ok(Some(header))
    }

    /// Reads the fields after the prefix.
    fn decode_body(body: &mut impl Buf) -> Result<Self, HeaderError> {
        let client = wire::get_addr(body)?;
        let reached = wire::get_addr(body)?;
        if body.remaining() < 2 {
            return Err(HeaderError::Truncated);
        }
        let protocol = protocol_from_id(body.get_u8())?;
        let host_len = usize::from(body.get_u8());
        let host = if host_len == 0 {
            None
        } else {
            if body.remaining() < host_len {
                return Err(HeaderError::Truncated);
            }
            let raw = body.copy_to_bytes(host_len);
            Some(Hostname::parse(&raw).map_err(HeaderError::InvalidHostname)?)
        };
        let flags = if body.has_remaining() {
            body.get_u8()
        } else {
            0
        };
        if flags & !(FLAG_ANSWER | FLAG_EXIT | FLAG_DATAGRAMS) != 0
            || (flags & FLAG_EXIT != 0 && host.is_none())
        {
            return Err(HeaderError::BadFlags(flags));
        }
        let exit = if flags & FLAG_EXIT != 0 {
            if body.remaining() < 2 {
                return Err(HeaderError::Truncated);
            }
            Some(body.get_u16())
        } else {
            None
        };
        Ok(StreamHeader {
            client,
            reached,
            protocol,
            host,
            answer: flags & FLAG_ANSWER != 0,
            exit,
            datagrams: flags & FLAG_DATAGRAMS != 0,
        })
    }

    /// The body length, without the prefix.
    fn body_len(&self) -> usize {
        wire::addr_len(self.client)
            + wire::addr_len(self.reached)
            + 1
            + 1
            + self.host_bytes().map_or(0, <[u8]>::len)
            + usize::from(self.flags() != 0)
            + if self.exit.is_some() { 2 } else { 0 }
    }

    /// The hostname bytes to encode; `None` for no name (or, impossibly for
    /// a [`Hostname`], one too long for the length byte).
    fn host_bytes(&self) -> Option<&[u8]> {
        self.host
            .as_ref()
            .map(|host| host.as_str().as_bytes())
            .filter(|bytes| !bytes.is_empty() && bytes.len() <= usize::from(u8::MAX))
    }
}

/// The wire id of a protocol.
fn protocol_id(protocol: Option<Protocol>) -> u8 {
    match protocol {
        None => PROTO_UNKNOWN,
        Some(Protocol::Tls) => PROTO_TLS,
        Some(Protocol::Http) => PROTO_HTTP,
        Some(Protocol::Xmpp) => PROTO_XMPP,
        Some(Protocol::Dial) => PROTO_DIAL,
        Some(Protocol::Ssh) => PROTO_SSH,
        Some(Protocol::Connect) => PROTO_CONNECT,
        Some(Protocol::Socks5) => PROTO_SOCKS5,
        Some(Protocol::Other) => PROTO_OTHER,
        Some(Protocol::Quic) => PROTO_QUIC,
    }
}

/// The protocol of a wire id.
fn protocol_from_id(id: u8) -> Result<Option<Protocol>, HeaderError> {
    match id {
        PROTO_UNKNOWN => Ok(None),
        PROTO_TLS => Ok(Some(Protocol::Tls)),
        PROTO_HTTP => Ok(Some(Protocol::Http)),
        PROTO_XMPP => Ok(Some(Protocol::Xmpp)),
        PROTO_DIAL => Ok(Some(Protocol::Dial)),
        PROTO_SSH => Ok(Some(Protocol::Ssh)),
        PROTO_CONNECT => Ok(Some(Protocol::Connect)),
        PROTO_SOCKS5 => Ok(Some(Protocol::Socks5)),
        PROTO_OTHER => Ok(Some(Protocol::Other)),
        PROTO_QUIC => Ok(Some(Protocol::Quic)),
        other => Err(HeaderError::BadProtocol(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn sample() -> StreamHeader {
        StreamHeader {
            client: "[2001:db8::7]:51000".parse().unwrap(),
            reached: "192.0.2.10:443".parse().unwrap(),
            protocol: Some(Protocol::Tls),
            host: Some(Hostname::parse(b"nas.example.org").unwrap()),
            answer: false,
            exit: None,
            datagrams: false,
        }
    }

    fn encoded(header: &StreamHeader) -> Vec<u8> {
        let mut out = Vec::new();
        header.encode(&mut out);
        out
    }

    #[test]
    fn round_trip_consumes_exactly_the_header() {
        let header = sample();
        let mut bytes = encoded(&header);
        assert_eq!(bytes.len(), header.encoded_len());
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let mut buf = bytes.as_slice();
        assert_eq!(StreamHeader::decode(&mut buf), Ok(Some(header)));
        assert_eq!(buf, b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn short_input_needs_more_and_consumes_nothing() {
        let bytes = encoded(&sample());
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(StreamHeader::decode(&mut buf), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn wrong_version_is_reported_from_the_first_byte() {
        assert_eq!(
            StreamHeader::decode(&mut &[9u8][..]),
            Err(HeaderError::UnknownVersion(9))
        );
    }

    #[test]
    fn oversize_is_reported_before_the_body_arrives() {
        let mut buf = &[HEADER_VERSION, 0x04, 0x00][..];
        assert_eq!(
            StreamHeader::decode(&mut buf),
            Err(HeaderError::Oversize { declared: 1027 })
        );
    }

    #[test]
    fn field_errors_are_typed() {
        let mut bytes = encoded(&sample());
        // Client family byte.
        bytes[3] = 5;
        assert_eq!(
            StreamHeader::decode(&mut bytes.as_slice()),
            Err(HeaderError::BadFamily(5))
        );
        let mut bytes = encoded(&sample());
        let proto_at = 3 + 19 + 7;
        bytes[proto_at] = 10;
        assert_eq!(
            StreamHeader::decode(&mut bytes.as_slice()),
            Err(HeaderError::BadProtocol(10))
        );
        let mut bytes = encoded(&sample());
        bytes[proto_at + 2] = b'_';
        assert_eq!(
            StreamHeader::decode(&mut bytes.as_slice()),
            Err(HeaderError::InvalidHostname(HostnameError::BadLabel))
        );
    }

    #[test]
    fn trailing_and_truncated_fields_are_rejected() {
        let header = StreamHeader {
            host: None,
            protocol: None,
            ..sample()
        };
        let mut bytes = encoded(&header);
        bytes.extend_from_slice(&[FLAG_ANSWER, 0xAA]);
        bytes[2] += 2;
        assert_eq!(
            StreamHeader::decode(&mut bytes.as_slice()),
            Err(HeaderError::TrailingBytes { extra: 1 })
        );
        let mut bytes = encoded(&header);
        bytes.push(0x80);
        bytes[2] += 1;
        assert_eq!(
            StreamHeader::decode(&mut bytes.as_slice()),
            Err(HeaderError::BadFlags(0x80))
        );
        // An exit without a name to dial.
        let mut bytes = encoded(&header);
        bytes.extend_from_slice(&[FLAG_EXIT, 0, 22]);
        bytes[2] += 3;
        assert_eq!(
            StreamHeader::decode(&mut bytes.as_slice()),
            Err(HeaderError::BadFlags(FLAG_EXIT))
        );
        let mut bytes = encoded(&header);
        bytes.pop();
        bytes[2] -= 1;
        assert_eq!(
            StreamHeader::decode(&mut bytes.as_slice()),
            Err(HeaderError::Truncated)
        );
    }

    #[test]
    fn answer_and_exit_flags_round_trip() {
        let plain = sample();
        let answer = StreamHeader {
            answer: true,
            ..sample()
        };
        let exit = StreamHeader {
            host: Some(Hostname::parse(b"192.168.1.10").unwrap()),
            answer: true,
            exit: Some(5000),
            datagrams: false,
            ..sample()
        };
        assert_eq!(encoded(&answer).len(), encoded(&plain).len() + 1);
        assert_eq!(encoded(&exit).len(), encoded(&plain).len() - 3 + 3);
        for header in [plain, answer, exit] {
            let bytes = encoded(&header);
            assert_eq!(bytes.len(), header.encoded_len());
            assert_eq!(
                StreamHeader::decode(&mut bytes.as_slice()),
                Ok(Some(header))
            );
        }
    }
}
