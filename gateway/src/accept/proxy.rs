//! PROXY protocol headers as the gateway uses them: parsing what a trusted
//! balancer sends, spotting one sent by anybody else, and writing one for a
//! backend. The formats themselves live in `portico_sniff::proxy`.

use std::net::SocketAddr;

use portico_config::model::ProxyVersion;
use portico_sniff::Status;

/// The state of a PROXY header at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderParse {
    /// Could still become a valid header.
    Partial,
    /// A complete header.
    Complete {
        /// The client it names (`None` for `LOCAL` / `UNKNOWN`).
        source: Option<SocketAddr>,
        /// The address the client reached, if named.
        destination: Option<SocketAddr>,
        /// The header's length in bytes.
        consume: usize,
    },
    /// Not a valid PROXY header.
    Invalid,
}

/// Parses a PROXY v1/v2 header at the start of `buf`.
pub fn parse_header(buf: &[u8]) -> HeaderParse {
    match portico_sniff::proxy::parse(buf) {
        Ok(Status::Partial) => HeaderParse::Partial,
        Ok(Status::Complete(header)) => HeaderParse::Complete {
            source: header.source,
            destination: header.destination,
            consume: header.consume,
        },
        Err(_) => HeaderParse::Invalid,
    }
}

/// Whether `buf` starts like a PROXY v1/v2 header.
pub fn could_be_header(buf: &[u8]) -> bool {
    portico_sniff::proxy::could_be_proxy(buf)
}

/// A PROXY header of `version` for a connection from `client` to `reached`.
pub fn encode_header(version: ProxyVersion, client: SocketAddr, reached: SocketAddr) -> Vec<u8> {
    match version {
        ProxyVersion::V1 => portico_sniff::proxy::encode_v1(client, reached),
        ProxyVersion::V2 => portico_sniff::proxy::encode_v2(client, reached),
    }
}
