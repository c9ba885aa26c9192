//! proxy detection (to be written).
