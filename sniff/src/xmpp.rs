//! xmpp detection (to be written).
