//! Why the gateway refuses a session, and how a refusal travels: as a
//! byte in the Refuse control message and as the QUIC close code that
//! follows it.

use crate::codes::{
    CLOSE_BAD_TOKEN, CLOSE_RATE_LIMITED, CLOSE_UNKNOWN_NAME, CLOSE_UNSUPPORTED_VERSION,
};

/// Why the gateway refused a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RefuseReason {
    /// No tunnel of that name is configured.
    #[error("unknown tunnel name")]
    UnknownName,
    /// The token does not match the tunnel's.
    #[error("bad token")]
    BadToken,
    /// The gateway does not speak the client's protocol version.
    #[error("unsupported link protocol version")]
    UnsupportedVersion,
    /// Too many failed attempts from the client's address recently.
    #[error("too many failed attempts, try later")]
    RateLimited,
}

impl RefuseReason {
    /// Every reason.
    pub const ALL: [RefuseReason; 4] = [
        RefuseReason::UnknownName,
        RefuseReason::BadToken,
        RefuseReason::UnsupportedVersion,
        RefuseReason::RateLimited,
    ];

    /// The wire id of the reason in a Refuse message.
    pub(crate) fn id(self) -> u8 {
        match self {
            RefuseReason::UnknownName => 1,
            RefuseReason::BadToken => 2,
            RefuseReason::UnsupportedVersion => 3,
            RefuseReason::RateLimited => 4,
        }
    }

    /// The reason with wire id `id`.
    pub(crate) fn from_id(id: u8) -> Option<Self> {
        RefuseReason::ALL
            .into_iter()
            .find(|reason| reason.id() == id)
    }
}

impl RefuseReason {
    /// The connection-close code sent after refusing for this reason.
    pub(crate) fn close_code(self) -> u32 {
        match self {
            RefuseReason::UnknownName => CLOSE_UNKNOWN_NAME,
            RefuseReason::BadToken => CLOSE_BAD_TOKEN,
            RefuseReason::UnsupportedVersion => CLOSE_UNSUPPORTED_VERSION,
            RefuseReason::RateLimited => CLOSE_RATE_LIMITED,
        }
    }

    /// The reason a connection-close code stands for, if it is a refusal.
    pub(crate) fn from_close_code(code: u64) -> Option<Self> {
        RefuseReason::ALL
            .into_iter()
            .find(|reason| u64::from(reason.close_code()) == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR};

    #[test]
    fn refusal_codes_round_trip_and_differ() {
        for reason in RefuseReason::ALL {
            let code = reason.close_code();
            assert_eq!(RefuseReason::from_close_code(u64::from(code)), Some(reason));
            assert_ne!(code, CLOSE_NORMAL);
            assert_ne!(code, CLOSE_PROTOCOL_ERROR);
        }
        assert_eq!(RefuseReason::from_close_code(u64::from(CLOSE_NORMAL)), None);
    }
}
