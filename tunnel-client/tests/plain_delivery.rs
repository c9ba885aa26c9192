//! The tunnel client in-process against a fake gateway built from
//! portico-link's server side, delivering to local TCP services on
//! loopback: plain and PROXY v2 delivery, resets for unmatched hosts and
//! unreachable services, reconnecting after a gateway restart, refusals,
//! and reload.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{bail, ensure};
use common::*;
use portico_config::model::ProxyVersion;
use portico_link::{RefuseReason, codes};
use portico_sniff::{Status, proxy};
use tokio::time::timeout;

#[tokio::test]
async fn delivers_both_ways_with_half_close_and_closes_on_shutdown() -> anyhow::Result<()> {
    let echo = echo_service().await?;
    let (_gateway, mut client, session, _pki) =
        gateway_and_client(|_| vec![service(&["wiki.test"], echo, None)]).await?;
    let Seen::Connected(id) = client.next_event().await? else {
        bail!("expected a connect event");
    };
    assert_eq!(id, session.id);
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    // The answer ends only if the finish reached the service as a shutdown
    // and the service's close came back as a finish.
    assert_eq!(exchange(&session, "wiki.test", &payload).await?, payload);
    assert_eq!(exchange(&session, "WIKI.test", b"again").await?, b"again");
    client.stop().await?;
    let closed = timeout(GUARD, session.connection.closed()).await?;
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(
                close.error_code.into_inner(),
                u64::from(codes::CLOSE_NORMAL)
            );
        }
        other => bail!("expected a normal close, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn proxy_v2_header_carries_the_stream_header_addresses() -> anyhow::Result<()> {
    let (recorder, recorded) = recording_service().await?;
    let (_gateway, client, session, _pki) =
        gateway_and_client(|_| vec![service(&["*.wiki.test"], recorder, Some(ProxyVersion::V2))])
            .await?;
    let answer = exchange(&session, "a.wiki.test", b"hello service").await?;
    assert!(answer.is_empty());
    let received = timeout(GUARD, recorded).await???;
    let Status::Complete(parsed) = proxy::parse(&received)? else {
        bail!("incomplete PROXY header: {received:?}");
    };
    let sent = header("a.wiki.test")?;
    assert_eq!(parsed.source, Some(sent.client));
    assert_eq!(parsed.destination, Some(sent.reached));
    assert_eq!(received.get(parsed.consume..), Some(&b"hello service"[..]));
    client.stop().await
}

#[tokio::test]
async fn unmatched_host_and_unreachable_service_reset_the_stream() -> anyhow::Result<()> {
    let echo = echo_service().await?;
    let down = closed_port().await?;
    let (_gateway, client, session, _pki) = gateway_and_client(|_| {
        vec![
            service(&["wiki.test"], echo, None),
            service(&["down.test"], down, None),
        ]
    })
    .await?;
    let undeliverable = u64::from(codes::STREAM_UNDELIVERABLE);
    assert_eq!(reset_code(&session, "other.test").await?, undeliverable);
    assert_eq!(reset_code(&session, "down.test").await?, undeliverable);
    // The session survives both, and other streams still work.
    assert_eq!(
        exchange(&session, "wiki.test", b"still up").await?,
        b"still up"
    );
    client.stop().await
}

#[tokio::test]
async fn reconnects_after_the_gateway_restarts() -> anyhow::Result<()> {
    let echo = echo_service().await?;
    let (gateway, mut client, session, pki) =
        gateway_and_client(|_| vec![service(&["wiki.test"], echo, None)]).await?;
    let addr = gateway.addr;
    let first = session.id;
    drop(session);
    gateway.stop().await;
    let mut gateway = FakeGateway::restart(addr, &pki).await?;
    let session = gateway.next_session().await?;
    assert_eq!(exchange(&session, "wiki.test", b"healed").await?, b"healed");
    assert!(matches!(client.next_event().await?, Seen::Connected(id) if id == first));
    assert!(matches!(client.next_event().await?, Seen::Lost(id) if id == first));
    // Attempts may fail while the port is closed; then the new session.
    loop {
        match client.next_event().await? {
            Seen::Connected(id) => {
                assert_eq!(id, session.id);
                break;
            }
            Seen::Failed(None, _) => {}
            other => bail!("unexpected {other:?}"),
        }
    }
    client.stop().await
}

#[tokio::test]
async fn refused_token_is_reported_and_retried_with_growing_back_off() -> anyhow::Result<()> {
    let pki = pki()?;
    let gateway = FakeGateway::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &pki)?;
    let echo = echo_service().await?;
    let services = vec![service(&["*"], echo, None)];
    let mut client = Client::start(config(gateway.addr, &pki, b"wrong token", services));
    let mut delays = Vec::new();
    while delays.len() < 3 {
        match client.next_event().await? {
            Seen::Failed(Some(RefuseReason::BadToken), retry_in) => delays.push(retry_in),
            other => bail!("expected a BadToken refusal, got {other:?}"),
        }
    }
    // Equal jitter keeps each delay within [ceiling/2, ceiling] of a ceiling
    // that doubles, so delays never shrink while failures continue.
    ensure!(
        delays.windows(2).all(|w| w.first() <= w.get(1)),
        "{delays:?}"
    );
    ensure!(!client.task.is_finished(), "the client gave up");
    client.stop().await
}

#[tokio::test]
async fn reload_swaps_services_and_link_changes_reconnect() -> anyhow::Result<()> {
    let echo = echo_service().await?;
    let pki = pki()?;
    let mut gateway = FakeGateway::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &pki)?;
    let wiki = vec![service(&["wiki.test"], echo, None)];
    let mut client = Client::start(config(gateway.addr, &pki, b"wrong token", wiki.clone()));
    // Refused first; a reload with the right token connects without
    // waiting out the back-off.
    let Seen::Failed(Some(RefuseReason::BadToken), _) = client.next_event().await? else {
        bail!("expected a refusal");
    };
    let reload = |gateway, services| Arc::new(config(gateway, &pki, TOKEN, services));
    client.configs.send_replace(reload(gateway.addr, wiki));
    let session = gateway.next_session().await?;
    loop {
        match client.next_event().await? {
            Seen::Connected(id) if id == session.id => break,
            Seen::Replaced(1) => {}
            other => bail!("unexpected {other:?}"),
        }
    }
    let undeliverable = u64::from(codes::STREAM_UNDELIVERABLE);
    assert_eq!(reset_code(&session, "blog.test").await?, undeliverable);
    // A change of services only keeps the session.
    let blog = vec![service(&["blog.test"], echo, None)];
    client
        .configs
        .send_replace(reload(gateway.addr, blog.clone()));
    let Seen::Replaced(1) = client.next_event().await? else {
        bail!("expected the services to be replaced");
    };
    assert_eq!(
        exchange(&session, "blog.test", b"swapped").await?,
        b"swapped"
    );
    assert_eq!(reset_code(&session, "wiki.test").await?, undeliverable);
    assert!(session.connection.close_reason().is_none());
    // Another gateway: a new session there, the old one closed normally.
    let mut other = FakeGateway::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &pki)?;
    client.configs.send_replace(reload(other.addr, blog));
    let moved = other.next_session().await?;
    assert_eq!(exchange(&moved, "blog.test", b"moved").await?, b"moved");
    match timeout(GUARD, session.connection.closed()).await? {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(
                close.error_code.into_inner(),
                u64::from(codes::CLOSE_NORMAL)
            );
        }
        other => bail!("expected a normal close, got {other:?}"),
    }
    client.stop().await
}
