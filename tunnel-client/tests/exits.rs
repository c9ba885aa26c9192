//! The tunnel client's side of the new stream kinds, against a fake gateway:
//! proxy-client streams answered with `CONNECTED` before the service's
//! bytes, exit streams dialled only when the `[[exit]]` list admits them
//! (reset with `STREAM_EXIT_DENIED` otherwise, `STREAM_UNDELIVERABLE` when
//! unreachable), and nameless streams delivered by the gateway port.

mod common;

use std::net::SocketAddr;

use anyhow::bail;
use common::*;
use portico_config::model::{Exit, ExitTarget};
use portico_link::{CONNECTED, StreamHeader, codes};
use portico_sniff::{Hostname, Protocol};
use quinn::{ReadError, ReadToEndError};
use tokio::time::timeout;

/// A header for an exit to `host:port`, asking for an answer.
fn exit_header(host: &str, port: u16) -> anyhow::Result<StreamHeader> {
    Ok(StreamHeader {
        protocol: Some(Protocol::Socks5),
        host: Some(Hostname::parse_str(host)?),
        answer: true,
        exit: Some(port),
        datagrams: false,
        ..header(host)?
    })
}

/// Sends `payload` on a stream with `header`, finishes, reads to the end:
/// the bytes, or the reset code.
async fn run(
    session: &portico_link::Session,
    header: &StreamHeader,
    payload: &[u8],
) -> anyhow::Result<Result<Vec<u8>, u64>> {
    let (mut send, mut recv) = session.open_stream(header).await?;
    send.write_all(payload).await?;
    send.finish()?;
    match timeout(GUARD, recv.read_to_end(MAX_READ)).await? {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(ReadToEndError::Read(ReadError::Reset(code))) => Ok(Err(code.into_inner())),
        Err(other) => bail!("stream failed: {other}"),
    }
}

fn exits(port: u16) -> anyhow::Result<Vec<Exit>> {
    Ok(vec![Exit {
        allow: vec![
            ExitTarget::Net("127.0.0.0/8".parse()?),
            ExitTarget::Host(portico_config::HostPattern::parse("localhost")?),
        ],
        ports: vec![port],
    }])
}

#[tokio::test]
async fn exit_targets_are_dialled_only_when_admitted() -> anyhow::Result<()> {
    let echo = echo_service().await?;
    let down = closed_port().await?;
    let pki = pki()?;
    let mut gateway = FakeGateway::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)?;
    let mut cfg = config(gateway.addr, &pki, TOKEN, vec![service(&["*"], echo, None)]);
    cfg.exits = exits(echo.port())?;
    cfg.exits.push(Exit {
        allow: vec![ExitTarget::Net("127.0.0.1/32".parse()?)],
        ports: vec![down.port()],
    });
    let client = Client::start(cfg);
    let session = gateway.next_session().await?;

    // Admitted: the answer byte, then the echo.
    let got = run(&session, &exit_header("127.0.0.1", echo.port())?, b"ping").await?;
    let mut want = vec![CONNECTED];
    want.extend_from_slice(b"ping");
    assert_eq!(got, Ok(want));

    // A port, an address or a name the list does not admit.
    let denied = u64::from(codes::STREAM_EXIT_DENIED);
    for header in [
        exit_header("127.0.0.1", echo.port() ^ 1)?,
        exit_header("192.0.2.1", echo.port())?,
        exit_header("nas.test", echo.port())?,
    ] {
        assert_eq!(run(&session, &header, b"x").await?, Err(denied));
    }
    // Admitted but nothing listens there.
    assert_eq!(
        run(&session, &exit_header("127.0.0.1", down.port())?, b"x").await?,
        Err(u64::from(codes::STREAM_UNDELIVERABLE))
    );
    client.stop().await
}

#[tokio::test]
async fn no_exit_list_admits_nothing() -> anyhow::Result<()> {
    let echo = echo_service().await?;
    let (_gateway, client, session, _pki) =
        gateway_and_client(|_| vec![service(&["*"], echo, None)]).await?;
    assert_eq!(
        run(&session, &exit_header("127.0.0.1", echo.port())?, b"x").await?,
        Err(u64::from(codes::STREAM_EXIT_DENIED))
    );
    client.stop().await
}

#[tokio::test]
async fn proxy_streams_are_answered_before_the_service_speaks() -> anyhow::Result<()> {
    let echo = echo_service().await?;
    let (_gateway, client, session, _pki) =
        gateway_and_client(|_| vec![service(&["nas.test"], echo, None)]).await?;
    let mut header = header("nas.test")?;
    header.protocol = Some(Protocol::Connect);
    header.answer = true;
    let got = run(&session, &header, b"hello").await?;
    assert_eq!(got, Ok([&[CONNECTED][..], b"hello"].concat()));
    // Without the flag nothing is added.
    header.answer = false;
    assert_eq!(
        run(&session, &header, b"hello").await?,
        Ok(b"hello".to_vec())
    );
    client.stop().await
}

#[tokio::test]
async fn nameless_streams_pick_the_service_by_gateway_port() -> anyhow::Result<()> {
    let ssh = echo_service().await?;
    let (smtp_rec, smtp_seen) = recording_service().await?;
    let (_gateway, client, session, _pki) = gateway_and_client(|_| {
        let mut mail = service(&["*"], smtp_rec, None);
        mail.ports = vec![25];
        let mut shell = service(&["*"], ssh, None);
        shell.ports = vec![22, 2222];
        vec![mail, shell]
    })
    .await?;
    let nameless = |port: u16| -> anyhow::Result<StreamHeader> {
        let mut h = header("unused.test")?;
        h.host = None;
        h.protocol = Some(Protocol::Other);
        h.reached = SocketAddr::from(([198, 51, 100, 1], port));
        Ok(h)
    };
    assert_eq!(
        run(&session, &nameless(2222)?, b"ssh").await?,
        Ok(b"ssh".to_vec())
    );
    assert_eq!(
        run(&session, &nameless(25)?, b"EHLO").await?,
        Ok(Vec::new())
    );
    assert_eq!(timeout(GUARD, smtp_seen).await???, b"EHLO");
    assert_eq!(
        run(&session, &nameless(443)?, b"x").await?,
        Err(u64::from(codes::STREAM_UNDELIVERABLE)),
        "no service takes port 443"
    );
    client.stop().await
}
