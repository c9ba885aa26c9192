//! The first datagrams of a real QUIC client, quinn-proto (over rustls with
//! the ring provider), connecting to a name: what the gateway sees when a
//! quinn or HTTP/3 client starts a connection.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support: a failure here is a broken test, reported by the panic"
)]

use std::sync::Arc;
use std::time::Instant;

use quinn_proto::crypto::rustls::QuicClientConfig;
use quinn_proto::{ClientConfig, Endpoint, EndpointConfig};

/// The datagrams quinn-proto sends first when connecting to `server_name`
/// offering these ALPN protocols: its Initial flight, one UDP payload each.
/// Enough ALPN names make the ClientHello span two Initial packets in two
/// datagrams, as a post-quantum key share does.
pub fn first_flight(server_name: &str, alpn: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    tls.alpn_protocols = alpn.to_vec();
    let crypto = QuicClientConfig::try_from(tls).unwrap();
    let config = ClientConfig::new(Arc::new(crypto));
    let mut endpoint = Endpoint::new(Arc::new(EndpointConfig::default()), None, false, None);
    let now = Instant::now();
    let server = "[2001:db8::1]:443".parse().unwrap();
    let (_, mut connection) = endpoint.connect(now, config, server, server_name).unwrap();
    let mut datagrams = Vec::new();
    let mut buf = Vec::new();
    while let Some(transmit) = connection.poll_transmit(now, 1, &mut buf) {
        datagrams.push(buf[..transmit.size].to_vec());
        buf.clear();
    }
    datagrams
}

/// `count` ALPN protocol names of 12 bytes each (`h3-test-0000`…).
pub fn many_alpn(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("h3-test-{i:04}").into_bytes())
        .collect()
}
