//! What a proxy client is told once its connection is set up, or why not:
//! `200 Connection established` or a SOCKS5 success reply before the first
//! forwarded byte; the failure answers of later stages are in
//! [`crate::refuse`].

use std::net::SocketAddr;

use portico_sniff::{Protocol, socks5};

/// The answer that tells a proxy client its target is connected: for
/// `connect` and `socks5` (with `bound`, the gateway's side of the
/// client's connection), nothing for every other protocol.
pub(crate) fn established(protocol: Protocol, bound: SocketAddr) -> Option<Vec<u8>> {
    match protocol {
        Protocol::Connect => Some(b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec()),
        Protocol::Socks5 => Some(socks5::reply(socks5::SUCCEEDED, Some(bound))),
        _ => None,
    }
}

/// A SOCKS5 failure reply with `code`.
pub(crate) fn failed(code: u8) -> Vec<u8> {
    socks5::reply(code, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_answers() {
        let bound = SocketAddr::from(([192, 0, 2, 1], 1080));
        assert_eq!(
            established(Protocol::Connect, bound).as_deref(),
            Some(&b"HTTP/1.1 200 Connection established\r\n\r\n"[..])
        );
        assert_eq!(
            established(Protocol::Socks5, bound).as_deref(),
            Some(&[5, 0, 0, 1, 192, 0, 2, 1, 0x04, 0x38][..])
        );
        assert_eq!(established(Protocol::Tls, bound), None);
        assert_eq!(
            failed(socks5::NOT_ALLOWED),
            vec![5, 2, 0, 1, 0, 0, 0, 0, 0, 0]
        );
    }
}
