//! Forwarded-connection streams over a real session on loopback: header,
//! bytes and half-close both ways, bad headers, session loss.

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use anyhow::Context;
use common::{sessions, sessions_on};
use portico_link::codes;
use portico_link::{HEADER_VERSION, HeaderError, Session, StreamError, StreamHeader};
use portico_sniff::{Hostname, Protocol};
use quinn::ConnectionError;

#[tokio::test]
async fn stream_carries_header_bytes_and_half_close_both_ways() -> anyhow::Result<()> {
    let (gateway, client, _pki) = sessions().await?;
    exchange(&gateway, &client).await
}

#[tokio::test]
async fn stream_works_over_ipv6_loopback() -> anyhow::Result<()> {
    let (gateway, client, _pki) = sessions_on(IpAddr::V6(Ipv6Addr::LOCALHOST))
        .await
        .context("session over [::1] (is IPv6 enabled on lo?)")?;
    assert!(gateway.connection.remote_address().is_ipv6());
    exchange(&gateway, &client).await
}

/// One forwarded connection: header, a request, half-close, a response.
async fn exchange(gateway: &Session, client: &Session) -> anyhow::Result<()> {
    let header = StreamHeader {
        client: "[2001:db8::5]:40000".parse()?,
        reached: "192.0.2.1:443".parse()?,
        protocol: Some(Protocol::Http),
        host: Some(Hostname::parse(b"nas.example.org")?),
        answer: false,
        exit: None,
        datagrams: false,
    };
    let (mut to_client, mut from_client) = gateway.open_stream(&header).await?;
    to_client
        .write_all(b"GET / HTTP/1.1\r\nHost: nas.example.org\r\n\r\n")
        .await?;
    to_client.finish()?;

    let (received, mut to_gateway, mut from_gateway) = client.accept_stream().await?;
    assert_eq!(received, header);
    let request = from_gateway.read_to_end(4096).await?;
    assert_eq!(request, b"GET / HTTP/1.1\r\nHost: nas.example.org\r\n\r\n");
    // The gateway's half-close leaves the other direction open.
    to_gateway.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await?;
    to_gateway.finish()?;

    let response = from_client.read_to_end(4096).await?;
    assert_eq!(response, b"HTTP/1.1 200 OK\r\n\r\n");
    Ok(())
}

#[tokio::test]
async fn oversize_header_is_rejected_and_the_session_survives() -> anyhow::Result<()> {
    let (gateway, client, _pki) = sessions().await?;
    let (mut send, _recv) = gateway.connection.open_bi().await?;
    let mut oversize = vec![HEADER_VERSION, 0x04, 0x00];
    oversize.resize(1100, 0);
    send.write_all(&oversize).await?;

    let err = client
        .accept_stream()
        .await
        .err()
        .context("oversize header accepted")?;
    assert!(
        matches!(
            err,
            StreamError::Header(HeaderError::Oversize { declared: 1027 })
        ),
        "{err:?}"
    );
    assert!(!err.is_session_lost());
    assert_eq!(
        send.stopped().await?,
        Some(codes::varint(codes::STREAM_BAD_HEADER))
    );

    let header = StreamHeader {
        client: "192.0.2.9:1234".parse()?,
        reached: "192.0.2.1:5222".parse()?,
        protocol: Some(Protocol::Xmpp),
        host: None,
        answer: true,
        exit: None,
        datagrams: false,
    };
    let (_send, _recv) = gateway.open_stream(&header).await?;
    let (received, _, _) = client.accept_stream().await?;
    assert_eq!(received, header);
    Ok(())
}

#[tokio::test]
async fn slow_header_times_out() -> anyhow::Result<()> {
    let (gateway, mut client, _pki) = sessions().await?;
    client.settings.header_timeout = Duration::from_millis(200);
    let (mut send, _recv) = gateway.connection.open_bi().await?;
    send.write_all(&[HEADER_VERSION, 0]).await?;
    let err = client
        .accept_stream()
        .await
        .err()
        .context("partial header accepted")?;
    assert!(matches!(err, StreamError::HeaderTimeout), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn closing_the_session_ends_accept_with_session_lost() -> anyhow::Result<()> {
    let (gateway, client, _pki) = sessions().await?;
    gateway.close();
    let err = client
        .accept_stream()
        .await
        .err()
        .context("stream after close")?;
    assert!(err.is_session_lost(), "{err:?}");
    match client.connection.close_reason() {
        Some(ConnectionError::ApplicationClosed(close)) => {
            assert_eq!(close.error_code, codes::varint(codes::CLOSE_NORMAL));
        }
        other => panic!("closed with {other:?}"),
    }
    Ok(())
}
