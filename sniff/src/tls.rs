//! tls detection (to be written).
