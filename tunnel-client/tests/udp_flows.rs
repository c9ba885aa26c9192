//! UDP flows through the tunnel client, against a fake gateway: a stream
//! with the *datagrams* flag reaches the flow's service over UDP, datagrams
//! kept whole both ways — framed on the stream, or as QUIC datagrams
//! tagged with the stream's id when they fit; a flow with no service,
//! or for a `source = "original"` service, is reset as undeliverable.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use common::*;
use portico_config::model::SourceMode;
use portico_link::{StreamHeader, codes, datagram};
use portico_sniff::Protocol;
use quinn::ReadExactError;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A UDP service answering each datagram with `udp:` + the datagram.
async fn udp_echo() -> anyhow::Result<SocketAddr> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut reply = b"udp:".to_vec();
            reply.extend_from_slice(buf.get(..n).unwrap_or_default());
            let _ = socket.send_to(&reply, from).await;
        }
    });
    Ok(addr)
}

fn flow_header(host: &str) -> anyhow::Result<StreamHeader> {
    Ok(StreamHeader {
        protocol: Some(Protocol::Quic),
        datagrams: true,
        ..header(host)?
    })
}

#[tokio::test]
async fn a_flow_reaches_its_udp_service_datagram_by_datagram() -> anyhow::Result<()> {
    let echo = udp_echo().await?;
    let (gateway, client, session, _pki) =
        gateway_and_client(|_| vec![service(&["h3.test"], echo, None)]).await?;
    let (mut send, mut recv) = session.open_stream(&flow_header("h3.test")?).await?;
    let id = quinn::VarInt::from(send.id()).into_inner();
    let mut incoming = session.datagrams.register(id);
    let mut buf = Vec::new();
    let (mut by_datagram, mut by_stream) = (0, 0);
    // Small replies come as QUIC datagrams, the 20,000-byte one (over the
    // link's datagram size) framed on the stream.
    for payload in [&b"one"[..], &[7u8; 1000][..], &b""[..], &[9u8; 20_000][..]] {
        datagram::write(&mut send, payload).await?;
        let reply = timeout(Duration::from_secs(10), async {
            tokio::select! {
                d = incoming.datagrams.recv() => d.map(|d| (d.to_vec(), true)),
                n = datagram::read(&mut recv, &mut buf) => match n {
                    Ok(Some(n)) => Some((buf[..n].to_vec(), false)),
                    _ => None,
                },
            }
        })
        .await
        .context("no echo in time")?
        .context("the flow ended")?;
        if reply.1 {
            by_datagram += 1
        } else {
            by_stream += 1
        }
        let reply = reply.0;
        assert_eq!(reply.get(..4), Some(&b"udp:"[..]));
        assert_eq!(reply.get(4..), Some(payload), "datagrams arrive whole");
    }
    assert_eq!((by_datagram, by_stream), (3, 1));
    send.finish()?;
    client.stop().await?;
    gateway.stop().await;
    Ok(())
}

#[tokio::test]
async fn flows_without_a_usable_service_are_reset() -> anyhow::Result<()> {
    let echo = udp_echo().await?;
    let (gateway, client, session, _pki) = gateway_and_client(|_| {
        let mut original = service(&["orig.test"], echo, None);
        original.source = SourceMode::Original;
        vec![original, service(&["h3.test"], echo, None)]
    })
    .await?;
    for host in ["nobody.test", "orig.test"] {
        let (mut send, mut recv) = session.open_stream(&flow_header(host)?).await?;
        datagram::write(&mut send, b"hello").await?;
        let mut buf = [0u8; 2];
        match timeout(Duration::from_secs(10), recv.read_exact(&mut buf)).await? {
            Err(ReadExactError::ReadError(quinn::ReadError::Reset(code))) => {
                assert_eq!(
                    code.into_inner(),
                    u64::from(codes::STREAM_UNDELIVERABLE),
                    "{host}"
                );
            }
            other => bail!("{host}: expected a reset, got {other:?}"),
        }
    }
    client.stop().await?;
    gateway.stop().await;
    Ok(())
}
