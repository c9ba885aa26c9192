//! Shared fixtures for Portico's end-to-end tests: locating the built
//! binaries and starting real third-party peers on loopback.
