//! The control stream: the first bidirectional stream the tunnel client
//! opens. The client sends one [`Hello`]; the gateway answers with one
//! `Welcome` or `Refuse`. Sans-IO.
//!
//! Every message is `kind: u8`, `length: u16` (big-endian, the rest), body:
//!
//! | kind | body |
//! |---|---|
//! | 1 Hello | version u8, name length u8, name (UTF-8), token length u16, token |
//! | 2 Welcome | session id u64 |
//! | 3 Refuse | reason u8 (1 unknown name, 2 bad token, 3 unsupported version, 4 rate limited) |
//!
//! The kind-and-length framing never changes between versions, so a
//! gateway can always read a newer client's Hello far enough to refuse it
//! with [`RefuseReason::UnsupportedVersion`].

use std::fmt;

use bytes::{Buf, BufMut};

use crate::refuse::RefuseReason;
use crate::wire::{self, HEADER_VERSION};

/// Bytes before a control message body: kind and body length.
pub(crate) const CONTROL_PREFIX_LEN: usize = 3;
/// The longest tunnel name a Hello carries, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 64;
/// The longest token a Hello carries, in bytes.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;
/// The largest control message accepted, prefix included, in bytes.
pub(crate) const MAX_CONTROL_LEN: usize =
    CONTROL_PREFIX_LEN + 1 + 1 + MAX_NAME_LEN + 2 + MAX_TOKEN_LEN;

/// Message kind: Hello.
const KIND_HELLO: u8 = 1;
/// Message kind: Welcome.
const KIND_WELCOME: u8 = 2;
/// Message kind: Refuse.
const KIND_REFUSE: u8 = 3;

/// The tunnel client's introduction.
#[derive(Clone, PartialEq, Eq)]
pub struct Hello {
    /// The link protocol version the client speaks ([`HEADER_VERSION`]).
    pub version: u8,
    /// The tunnel name (`[[tunnel]] name` on the gateway): 1 to
    /// 64 (`MAX_NAME_LEN`) bytes of UTF-8 without control characters.
    pub name: String,
    /// The shared secret, at most 4096 (`MAX_TOKEN_LEN`) bytes.
    pub token: Vec<u8>,
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field("version", &self.version)
            .field("name", &self.name)
            .field("token", &"MASKED")
            .finish()
    }
}

/// A message on the control stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// Client → gateway: who I am.
    Hello(Hello),
    /// Gateway → client: accepted.
    Welcome {
        /// The gateway's id for this session, for logs on both sides.
        session_id: u64,
    },
    /// Gateway → client: refused; the gateway closes the connection next.
    Refuse {
        /// Why.
        reason: RefuseReason,
    },
}

/// Why a control message could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The kind byte is not a known message.
    #[error("unknown control message kind {0}")]
    UnknownKind(u8),
    /// A Hello announces a protocol version this build does not speak.
    #[error("unsupported link protocol version {0}")]
    UnknownVersion(u8),
    /// The declared length exceeds `MAX_CONTROL_LEN`.
    #[error("control message of {declared} bytes exceeds the cap of {MAX_CONTROL_LEN}")]
    Oversize {
        /// The total length the prefix declared, prefix included.
        declared: usize,
    },
    /// The tunnel name is empty.
    #[error("empty tunnel name")]
    EmptyName,
    /// The tunnel name is longer than 64 (`MAX_NAME_LEN`) bytes.
    #[error("tunnel name longer than {MAX_NAME_LEN} bytes")]
    NameTooLong,
    /// The tunnel name is not UTF-8 or holds a control character.
    #[error("tunnel name is not printable UTF-8")]
    BadName,
    /// The token is longer than 4096 (`MAX_TOKEN_LEN`) bytes.
    #[error("token longer than {MAX_TOKEN_LEN} bytes")]
    TokenTooLong,
    /// The refuse reason byte is not a known reason.
    #[error("unknown refuse reason {0}")]
    BadRefuseReason(u8),
    /// A field runs past the declared end of the message.
    #[error("control message field runs past the declared length")]
    Truncated,
    /// Bytes are left inside the declared length after the last field.
    #[error("{extra} unexpected bytes at the end of a control message")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
}

impl ControlMessage {
    /// Writes the message to `buf`; a Hello whose name or token breaks the
    /// caps is refused before anything is written.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), ControlError> {
        match self {
            ControlMessage::Hello(hello) => {
                check_name(hello.name.as_bytes())?;
                if hello.token.len() > MAX_TOKEN_LEN {
                    return Err(ControlError::TokenTooLong);
                }
                let body_len = 1 + 1 + hello.name.len() + 2 + hello.token.len();
                put_prefix(buf, KIND_HELLO, body_len);
                buf.put_u8(hello.version);
                buf.put_u8(u8::try_from(hello.name.len()).map_err(|_| ControlError::NameTooLong)?);
                buf.put_slice(hello.name.as_bytes());
                let token_len =
                    u16::try_from(hello.token.len()).map_err(|_| ControlError::TokenTooLong)?;
                buf.put_u16(token_len);
                buf.put_slice(&hello.token);
            }
            ControlMessage::Welcome { session_id } => {
                put_prefix(buf, KIND_WELCOME, 8);
                buf.put_u64(*session_id);
            }
            ControlMessage::Refuse { reason } => {
                put_prefix(buf, KIND_REFUSE, 1);
                buf.put_u8(reason.id());
            }
        }
        Ok(())
    }

    /// The total message length announced by its first
    /// [`CONTROL_PREFIX_LEN`] bytes, checked against the kind and
    /// [`MAX_CONTROL_LEN`].
    pub(crate) fn frame_len(prefix: [u8; CONTROL_PREFIX_LEN]) -> Result<usize, ControlError> {
        let [kind, high, low] = prefix;
        if !matches!(kind, KIND_HELLO | KIND_WELCOME | KIND_REFUSE) {
            return Err(ControlError::UnknownKind(kind));
        }
        let declared = CONTROL_PREFIX_LEN + usize::from(u16::from_be_bytes([high, low]));
        if declared > MAX_CONTROL_LEN {
            return Err(ControlError::Oversize { declared });
        }
        Ok(declared)
    }

    /// Decodes one message from the front of `buf`.
    ///
    /// Returns `Ok(None)` and consumes nothing while the message is
    /// incomplete. On success exactly the message's bytes are consumed;
    /// after an error the position of `buf` is unspecified.
    pub fn decode(buf: &mut impl Buf) -> Result<Option<Self>, ControlError> {
        let Some(prefix) = wire::peek::<CONTROL_PREFIX_LEN>(buf) else {
            if let Some([kind]) = wire::peek::<1>(buf) {
                // Reject an unknown kind as early as a wrong header version.
                Self::frame_len([kind, 0, 0])?;
            }
            return Ok(None);
        };
        let frame_len = Self::frame_len(prefix)?;
        if buf.remaining() < frame_len {
            return Ok(None);
        }
        buf.advance(CONTROL_PREFIX_LEN);
        let mut body = buf.copy_to_bytes(frame_len - CONTROL_PREFIX_LEN);
        let [kind, ..] = prefix;
        let message = match kind {
            KIND_HELLO => ControlMessage::Hello(decode_hello(&mut body)?),
            KIND_WELCOME => {
                if body.remaining() < 8 {
                    return Err(ControlError::Truncated);
                }
                ControlMessage::Welcome {
                    session_id: body.get_u64(),
                }
            }
            _ => {
                if body.remaining() < 1 {
                    return Err(ControlError::Truncated);
                }
                let id = body.get_u8();
                let reason = RefuseReason::from_id(id).ok_or(ControlError::BadRefuseReason(id))?;
                ControlMessage::Refuse { reason }
            }
        };
        if body.has_remaining() {
            return Err(ControlError::TrailingBytes {
                extra: body.remaining(),
            });
        }
        Ok(Some(message))
    }
}

/// Writes kind and body length. Every body is at most
/// `MAX_CONTROL_LEN - CONTROL_PREFIX_LEN` bytes, which fits a u16.
fn put_prefix(buf: &mut impl BufMut, kind: u8, body_len: usize) {
    buf.put_u8(kind);
    buf.put_u16(u16::try_from(body_len).unwrap_or(u16::MAX));
}

/// Reads a Hello body.
fn decode_hello(body: &mut impl Buf) -> Result<Hello, ControlError> {
    if body.remaining() < 1 {
        return Err(ControlError::Truncated);
    }
    let version = body.get_u8();
    if version != HEADER_VERSION {
        return Err(ControlError::UnknownVersion(version));
    }
    if body.remaining() < 1 {
        return Err(ControlError::Truncated);
    }
    let name_len = usize::from(body.get_u8());
    if body.remaining() < name_len {
        return Err(ControlError::Truncated);
    }
    let name = body.copy_to_bytes(name_len);
    check_name(&name)?;
    let name = String::from_utf8(name.to_vec()).map_err(|_| ControlError::BadName)?;
    if body.remaining() < 2 {
        return Err(ControlError::Truncated);
    }
    let token_len = usize::from(body.get_u16());
    if token_len > MAX_TOKEN_LEN {
        return Err(ControlError::TokenTooLong);
    }
    if body.remaining() < token_len {
        return Err(ControlError::Truncated);
    }
    let token = body.copy_to_bytes(token_len).to_vec();
    Ok(Hello {
        version,
        name,
        token,
    })
}

/// Checks a tunnel name against the Hello rules.
fn check_name(name: &[u8]) -> Result<(), ControlError> {
    if name.is_empty() {
        return Err(ControlError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ControlError::NameTooLong);
    }
    let text = std::str::from_utf8(name).map_err(|_| ControlError::BadName)?;
    if text.chars().any(char::is_control) {
        return Err(ControlError::BadName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> ControlMessage {
        ControlMessage::Hello(Hello {
            version: HEADER_VERSION,
            name: "home".into(),
            token: b"s3cret".to_vec(),
        })
    }

    fn encoded(message: &ControlMessage) -> Vec<u8> {
        let mut out = Vec::new();
        message.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn every_message_round_trips() {
        let mut messages = vec![hello(), ControlMessage::Welcome { session_id: 7 }];
        messages.extend(RefuseReason::ALL.map(|reason| ControlMessage::Refuse { reason }));
        for message in messages {
            let bytes = encoded(&message);
            let mut buf = bytes.as_slice();
            assert_eq!(ControlMessage::decode(&mut buf), Ok(Some(message)));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn short_input_needs_more() {
        let bytes = encoded(&hello());
        for cut in 0..bytes.len() {
            let mut buf = &bytes[..cut];
            assert_eq!(ControlMessage::decode(&mut buf), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn caps_are_enforced_on_both_sides() {
        let long_name = ControlMessage::Hello(Hello {
            version: HEADER_VERSION,
            name: "n".repeat(MAX_NAME_LEN + 1),
            token: Vec::new(),
        });
        assert_eq!(
            long_name.encode(&mut Vec::new()),
            Err(ControlError::NameTooLong)
        );
        let long_token = ControlMessage::Hello(Hello {
            version: HEADER_VERSION,
            name: "home".into(),
            token: vec![0; MAX_TOKEN_LEN + 1],
        });
        assert_eq!(
            long_token.encode(&mut Vec::new()),
            Err(ControlError::TokenTooLong)
        );
        let mut buf = &[KIND_HELLO, 0xFF, 0xFF][..];
        assert_eq!(
            ControlMessage::decode(&mut buf),
            Err(ControlError::Oversize { declared: 65538 })
        );
    }

    #[test]
    fn bad_fields_are_typed() {
        assert_eq!(
            ControlMessage::decode(&mut &[9u8][..]),
            Err(ControlError::UnknownKind(9))
        );
        assert_eq!(
            ControlMessage::decode(&mut &[KIND_REFUSE, 0, 1, 77][..]),
            Err(ControlError::BadRefuseReason(77))
        );
        assert_eq!(
            ControlMessage::decode(&mut &[KIND_WELCOME, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 5][..]),
            Err(ControlError::TrailingBytes { extra: 1 })
        );
        assert_eq!(
            ControlMessage::decode(&mut &[KIND_HELLO, 0, 3, 2, 1, b'x'][..]),
            Err(ControlError::UnknownVersion(2))
        );
        assert_eq!(
            ControlMessage::decode(&mut &[KIND_HELLO, 0, 5, HEADER_VERSION, 1, 0x07, 0, 0][..]),
            Err(ControlError::BadName)
        );
        assert_eq!(
            ControlMessage::decode(&mut &[KIND_HELLO, 0, 4, HEADER_VERSION, 0, 0, 0][..]),
            Err(ControlError::EmptyName)
        );
    }

    #[test]
    fn hello_debug_masks_the_token() {
        let shown = format!("{:?}", hello());
        assert!(shown.contains("MASKED"));
        assert!(!shown.contains("s3cret"));
    }
}
