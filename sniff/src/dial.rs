//! dial detection (to be written).
pub const MAX_LINE: usize = 262;
