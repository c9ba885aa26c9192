//! The session handshake against real quinn endpoints on loopback:
//! welcome, each refusal, close codes, rate limiting, timeouts, trust.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::{SERVER_NAME, TOKEN, endpoints, hello, pki, serve, sessions};
use portico_link::codes;
use portico_link::{
    AcceptError, ConnectError, ControlMessage, FailureLimiter, HEADER_VERSION, LimiterSettings,
    LinkSettings, RefuseReason, Trust, connect_session,
};
use quinn::ConnectionError;

#[tokio::test]
async fn handshake_welcomes_a_known_client() -> anyhow::Result<()> {
    let (gateway, client, _pki) = sessions().await?;
    assert_eq!(gateway.name, "home");
    assert_eq!(client.name, "home");
    assert_eq!(client.id, gateway.id);
    assert_eq!(
        client.connection.handshake_data().and_then(|data| data
            .downcast::<quinn::crypto::rustls::HandshakeData>()
            .ok()
            .and_then(|data| data.protocol)),
        Some(portico_link::ALPN.to_vec())
    );
    Ok(())
}

async fn refused_with(
    name: &str,
    token: &[u8],
    version: u8,
) -> anyhow::Result<(ConnectError, AcceptError)> {
    let pki = pki()?;
    let (server, client, addr) = endpoints(&pki, &Trust::CaFile(pki.ca.path().to_path_buf()))?;
    let gateway = serve(server, LinkSettings::default(), Arc::default(), 1);
    let mut hello = hello(name, token);
    hello.version = version;
    let outcome =
        connect_session(&client, addr, SERVER_NAME, hello, &LinkSettings::default()).await;
    let client_err = outcome.err().context("client was not refused")?;
    let gateway_err = gateway
        .await??
        .pop()
        .context("no outcome")?
        .err()
        .context("gateway accepted")?;
    Ok((client_err, gateway_err))
}

#[tokio::test]
async fn wrong_token_is_refused_as_bad_token() -> anyhow::Result<()> {
    let (client, gateway) = refused_with("home", b"guess", HEADER_VERSION).await?;
    assert!(
        matches!(client, ConnectError::Refused(RefuseReason::BadToken)),
        "{client:?}"
    );
    assert!(
        matches!(&gateway, AcceptError::Refused { name: Some(name), reason: RefuseReason::BadToken } if name == "home"),
        "{gateway:?}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_name_is_refused() -> anyhow::Result<()> {
    let (client, _) = refused_with("office", TOKEN, HEADER_VERSION).await?;
    assert!(
        matches!(client, ConnectError::Refused(RefuseReason::UnknownName)),
        "{client:?}"
    );
    Ok(())
}

#[tokio::test]
async fn other_version_is_refused_as_unsupported() -> anyhow::Result<()> {
    let (client, gateway) = refused_with("home", TOKEN, HEADER_VERSION + 1).await?;
    assert!(
        matches!(
            client,
            ConnectError::Refused(RefuseReason::UnsupportedVersion)
        ),
        "{client:?}"
    );
    assert!(
        matches!(
            gateway,
            AcceptError::Refused {
                name: None,
                reason: RefuseReason::UnsupportedVersion
            }
        ),
        "{gateway:?}"
    );
    Ok(())
}

#[tokio::test]
async fn refusal_sends_refuse_then_closes_with_the_reason_code() -> anyhow::Result<()> {
    let pki = pki()?;
    let (server, client, addr) = endpoints(&pki, &Trust::CaFile(pki.ca.path().to_path_buf()))?;
    let gateway = serve(server, LinkSettings::default(), Arc::default(), 1);
    let conn = client.connect(addr, SERVER_NAME)?.await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let mut frame = Vec::new();
    ControlMessage::Hello(hello("home", b"wrong")).encode(&mut frame)?;
    send.write_all(&frame).await?;
    send.finish()?;
    let answer = recv.read_to_end(64).await?;
    assert_eq!(
        ControlMessage::decode(&mut answer.as_slice()),
        Ok(Some(ControlMessage::Refuse {
            reason: RefuseReason::BadToken
        }))
    );
    match conn.closed().await {
        ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, codes::varint(codes::CLOSE_BAD_TOKEN));
        }
        other => panic!("closed with {other:?}"),
    }
    gateway.await??;
    Ok(())
}

#[tokio::test]
async fn repeated_failures_are_rate_limited() -> anyhow::Result<()> {
    let pki = pki()?;
    let (server, client, addr) = endpoints(&pki, &Trust::CaFile(pki.ca.path().to_path_buf()))?;
    let limiter = Arc::new(FailureLimiter::new(LimiterSettings {
        max_failures: 2,
        ..LimiterSettings::default()
    }));
    let gateway = serve(server, LinkSettings::default(), limiter, 3);
    let settings = LinkSettings::default();
    let mut reasons = Vec::new();
    for token in [&b"one"[..], b"two", TOKEN] {
        let outcome =
            connect_session(&client, addr, SERVER_NAME, hello("home", token), &settings).await;
        match outcome {
            Err(ConnectError::Refused(reason)) => reasons.push(reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(
        reasons,
        [
            RefuseReason::BadToken,
            RefuseReason::BadToken,
            RefuseReason::RateLimited
        ]
    );
    gateway.await??;
    Ok(())
}

#[tokio::test]
async fn silent_client_is_closed_after_the_hello_timeout() -> anyhow::Result<()> {
    let pki = pki()?;
    let (server, client, addr) = endpoints(&pki, &Trust::CaFile(pki.ca.path().to_path_buf()))?;
    let settings = LinkSettings {
        hello_timeout: Duration::from_millis(200),
        ..LinkSettings::default()
    };
    let gateway = serve(server, settings, Arc::default(), 1);
    let conn = client.connect(addr, SERVER_NAME)?.await?;
    match conn.closed().await {
        ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, codes::varint(codes::CLOSE_HELLO_TIMEOUT));
        }
        other => panic!("closed with {other:?}"),
    }
    let outcome = gateway.await??.pop().context("no outcome")?;
    assert!(
        matches!(outcome, Err(AcceptError::HelloTimeout)),
        "{outcome:?}"
    );
    Ok(())
}

#[tokio::test]
async fn client_with_another_ca_rejects_the_gateway() -> anyhow::Result<()> {
    let pki = pki()?;
    let other = self::pki()?;
    let (server, client, addr) = endpoints(&pki, &Trust::CaFile(other.ca.path().to_path_buf()))?;
    let gateway = serve(server, LinkSettings::default(), Arc::default(), 1);
    let outcome = connect_session(
        &client,
        addr,
        SERVER_NAME,
        hello("home", TOKEN),
        &LinkSettings::default(),
    )
    .await;
    assert!(
        matches!(
            outcome,
            Err(ConnectError::Connection(ConnectionError::TransportError(_)))
        ),
        "{outcome:?}"
    );
    assert!(
        outcome
            .as_ref()
            .is_err_and(ConnectError::is_certificate_rejected),
        "{outcome:?}"
    );
    let gateway_outcome = gateway.await??.pop().context("no outcome")?;
    assert!(gateway_outcome.is_err(), "the gateway got a session");
    Ok(())
}
