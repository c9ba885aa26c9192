//! What a backend receives before the client's next bytes: the optional
//! PROXY header naming the client and the address it reached, then every
//! byte read while sniffing except a consumed dial line.

use portico_config::model::ProxyVersion;

use crate::accept::{Peeked, encode_header};

/// The PROXY header of `version` for the connection `peeked`, or nothing.
pub(crate) fn proxy_header(version: Option<ProxyVersion>, peeked: &Peeked) -> Vec<u8> {
    version
        .map(|v| encode_header(v, peeked.client, peeked.reached))
        .unwrap_or_default()
}

/// The PROXY header (if any), then the bytes read so far that the backend
/// is to see: everything after a dial line.
pub(crate) fn prefix(version: Option<ProxyVersion>, peeked: &Peeked) -> Vec<u8> {
    let rest = peeked
        .buf
        .get(peeked.detection.consume..)
        .unwrap_or_default();
    let mut prefix = proxy_header(version, peeked);
    prefix.extend_from_slice(rest);
    prefix
}
