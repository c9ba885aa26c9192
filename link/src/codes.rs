//! Application error codes carried by QUIC CONNECTION_CLOSE (connection
//! codes) and RESET_STREAM / STOP_SENDING (stream codes) on the link.
//!
//! Connection and stream codes live in separate QUIC spaces; they are kept
//! in distinct ranges anyway so logs are unambiguous.

use quinn::VarInt;

/// Connection closed normally (shutdown, reload, operator action).
pub const CLOSE_NORMAL: u32 = 0x00;
/// A peer broke the link protocol (malformed or unexpected control message).
pub(crate) const CLOSE_PROTOCOL_ERROR: u32 = 0x01;
/// The client sent no Hello within the hello timeout.
pub const CLOSE_HELLO_TIMEOUT: u32 = 0x02;
/// The gateway accepted the client but already holds the most live
/// sessions it allows (for the name or in total); try again later.
pub const CLOSE_SESSION_LIMIT: u32 = 0x03;
/// Refused: no tunnel of that name.
pub const CLOSE_UNKNOWN_NAME: u32 = 0x10;
/// Refused: the token does not match.
pub const CLOSE_BAD_TOKEN: u32 = 0x11;
/// Refused: the client's protocol version is not spoken.
pub(crate) const CLOSE_UNSUPPORTED_VERSION: u32 = 0x12;
/// Refused: too many failed attempts from the client's address.
pub(crate) const CLOSE_RATE_LIMITED: u32 = 0x13;

/// Stream reset: the other end of the forwarded connection failed or was
/// aborted (client reset, backend error).
pub const STREAM_ABORTED: u32 = 0x100;
/// Stream reset by the tunnel client: no local service takes this stream,
/// or it could not be reached.
pub const STREAM_UNDELIVERABLE: u32 = 0x101;
/// Stream reset by the tunnel client: the stream header was malformed or
/// did not arrive within the header timeout.
pub const STREAM_BAD_HEADER: u32 = 0x102;

/// Stream reset by the tunnel client: the exit target the gateway passed
/// on is not admitted by the client's `[[exit]]` list.
pub const STREAM_EXIT_DENIED: u32 = 0x103;

/// Converts a code to the QUIC integer type (every code here fits).
pub fn varint(code: u32) -> VarInt {
    VarInt::from_u32(code)
}
