//! http detection (to be written).
