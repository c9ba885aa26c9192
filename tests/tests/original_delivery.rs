//! `source = "original"` end to end: a fake gateway on loopback, the
//! tunnel client with a `[tun]` section, and services on the tun addresses
//! that must see the remote client's own address, for IPv4 and IPv6
//! clients (the latter through the other `[tun]` address at the same port).
//!
//! The test creates its own network namespace, re-runs itself inside it
//! (`ip netns exec`) and deletes it at the end, so the host's routes are
//! never touched. Needs root, `/dev/net/tun`, iproute2, and openssl (the
//! fake gateway's test certificate).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{bail, ensure};
use portico_config::model::{RouteMode, SourceMode, Tun};
use portico_tests::netns::{in_netns, ip};
use portico_tests::tunnel_inproc::{
    Client, FakeGateway, Pki, Seen, TOKEN, config, exchange_with, header_from, service,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const DEVICE: &str = "portico-orig";
const TABLE: u32 = 7778;
const SERVICE4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SERVICE6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);

/// Accepts one connection, echoes it to EOF, and returns the peer address
/// the service saw.
fn serve_once(listener: TcpListener) -> JoinHandle<anyhow::Result<SocketAddr>> {
    tokio::spawn(async move {
        let (mut stream, peer) = listener.accept().await?;
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await?;
        stream.write_all(&received).await?;
        stream.shutdown().await?;
        Ok(peer)
    })
}

async fn original_delivery() -> anyhow::Result<()> {
    let pki = Pki::create();
    let mut gateway = FakeGateway::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &pki)?;
    let mut config = config(gateway.addr, &pki, TOKEN, Vec::new());
    config.tun = Some(Tun {
        device: DEVICE.to_string(),
        address: Some(SERVICE4),
        address6: Some(SERVICE6),
        routes: RouteMode::Policy,
        table: TABLE,
    });
    let mut client = Client::start(config.clone());
    let session = gateway.next_session().await?;
    // TUN delivery is up (it starts before the first attempt), so the
    // service addresses exist now: bind the services and point
    // `nas.test` at the IPv4 one.
    let listener4 = TcpListener::bind((SERVICE4, 0)).await?;
    let port = listener4.local_addr()?.port();
    let listener6 = TcpListener::bind((SERVICE6, port)).await?;
    let mut nas = service(&["nas.test"], SocketAddr::from((SERVICE4, port)), None);
    nas.source = SourceMode::Original;
    config.services = vec![nas];
    client.configs.send_replace(Arc::new(config));
    loop {
        match client.next_event().await? {
            Seen::Replaced(1) => break,
            Seen::Connected(_) => {}
            other => bail!("unexpected {other:?}"),
        }
    }

    let v4: SocketAddr = "203.0.113.7:40000".parse()?;
    let seen = serve_once(listener4);
    let answer = exchange_with(&session, &header_from("nas.test", v4)?, b"over ipv4").await?;
    assert_eq!(answer, b"over ipv4");
    assert_eq!(seen.await??, v4, "the IPv4 service saw another source");

    let v6: SocketAddr = "[2001:db8::7]:40001".parse()?;
    let seen = serve_once(listener6);
    let answer = exchange_with(&session, &header_from("nas.test", v6)?, b"over ipv6").await?;
    assert_eq!(answer, b"over ipv6");
    assert_eq!(seen.await??, v6, "the IPv6 service saw another source");

    client.stop().await?;
    // Shutting down removed the policy rules of the table.
    for family in ["-4", "-6"] {
        let rules = ip(&[family, "rule", "show"])?;
        ensure!(
            !rules.contains(&format!("lookup {TABLE}")),
            "rules left after shutdown: {rules}"
        );
    }
    Ok(())
}

#[test]
fn original_source_reaches_services_from_the_client_address() -> anyhow::Result<()> {
    in_netns(
        "original_source_reaches_services_from_the_client_address",
        original_delivery,
    )
}
