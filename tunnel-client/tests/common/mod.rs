//! Fixtures shared by the in-process tests: a throwaway certificate, a
//! fake gateway built from portico-link's server side, the tunnel client
//! running in a task with its events, and local TCP services.

// Each test binary uses a different subset of these fixtures.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use portico_config::model::{LinkTuning, ProxyVersion, Service, SourceMode};
use portico_config::{HostPattern, Secret, TunnelConfig};
use portico_link::{
    FailureLimiter, LimiterSettings, LinkSettings, RefuseReason, Session, StreamHeader,
    accept_connection, accept_session, codes, load_cert_chain, load_private_key, server_endpoint,
    tokens_equal,
};
use portico_sniff::Hostname;
use portico_tunnel::{
    BackoffSettings, ClientEvent, ClientOptions, ClientSettings, RunError, run_client_with,
};
use quinn::{Endpoint, ReadError, ReadToEndError};
use rcgen::{CertificateParams, KeyPair};
use tempfile::NamedTempFile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// The token of tunnel "home".
pub const TOKEN: &[u8] = b"correct horse battery staple";
/// A bound on every wait, so a broken client fails the test instead of
/// hanging it. Never reached when things work.
pub const GUARD: Duration = Duration::from_secs(60);
/// Largest response a test reads back.
pub const MAX_READ: usize = 1 << 20;

/// The fake gateway's certificate (for 127.0.0.1) and the CA file for it.
pub struct Pki {
    pub ca: NamedTempFile,
    pub cert: NamedTempFile,
    pub key: NamedTempFile,
}

pub fn pem_file(text: &str) -> anyhow::Result<NamedTempFile> {
    let mut file = NamedTempFile::new()?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(file)
}

pub fn pki() -> anyhow::Result<Pki> {
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])?.self_signed(&key)?;
    Ok(Pki {
        ca: pem_file(&cert.pem())?,
        cert: pem_file(&cert.pem())?,
        key: pem_file(&key.serialize_pem())?,
    })
}

/// A gateway that authenticates tunnel "home" with [`TOKEN`] and hands
/// every established session to the test.
pub struct FakeGateway {
    pub endpoint: Endpoint,
    pub addr: SocketAddr,
    pub sessions: mpsc::UnboundedReceiver<Session>,
    pub accepting: JoinHandle<()>,
}

impl FakeGateway {
    pub fn start(bind: SocketAddr, pki: &Pki) -> anyhow::Result<FakeGateway> {
        let settings = LinkSettings::default();
        let endpoint = server_endpoint(
            bind,
            load_cert_chain(pki.cert.path())?,
            load_private_key(pki.key.path())?,
            &settings,
        )?;
        let addr = endpoint.local_addr()?;
        let (found, sessions) = mpsc::unbounded_channel();
        let incoming = endpoint.clone();
        let accepting = tokio::spawn(async move {
            let limiter = Arc::new(FailureLimiter::new(LimiterSettings {
                max_failures: u32::MAX,
                ..LimiterSettings::default()
            }));
            while let Some(incoming) = incoming.accept().await {
                let found = found.clone();
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move {
                    let Ok(conn) = accept_connection(incoming, &settings).await else {
                        return;
                    };
                    let authenticate = |name: &str, token: &[u8]| {
                        if name != "home" {
                            Err(RefuseReason::UnknownName)
                        } else if !tokens_equal(token, TOKEN) {
                            Err(RefuseReason::BadToken)
                        } else {
                            Ok(())
                        }
                    };
                    if let Ok(session) =
                        accept_session(conn, &settings, &limiter, authenticate).await
                    {
                        let _ = found.send(session);
                    }
                });
            }
        });
        Ok(FakeGateway {
            endpoint,
            addr,
            sessions,
            accepting,
        })
    }

    pub async fn next_session(&mut self) -> anyhow::Result<Session> {
        timeout(GUARD, self.sessions.recv())
            .await
            .context("no session from the tunnel client")?
            .context("gateway stopped")
    }

    /// Closes every session (as a gateway that stops does) and the socket.
    pub async fn stop(self) {
        self.endpoint
            .close(codes::varint(codes::CLOSE_NORMAL), b"restart");
        let _ = timeout(GUARD, self.endpoint.wait_idle()).await;
        drop(self.endpoint);
        let _ = timeout(GUARD, self.accepting).await;
    }

    /// A gateway on `addr` once the previous one has let go of the port.
    pub async fn restart(addr: SocketAddr, pki: &Pki) -> anyhow::Result<FakeGateway> {
        timeout(GUARD, async {
            loop {
                match FakeGateway::start(addr, pki) {
                    Ok(gateway) => return gateway,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        })
        .await
        .context("the port stayed busy")
    }
}

pub fn service(hosts: &[&str], to: SocketAddr, proxy_protocol: Option<ProxyVersion>) -> Service {
    Service {
        hosts: hosts
            .iter()
            .map(|host| HostPattern::parse(host))
            .collect::<Result<_, _>>()
            .unwrap_or_default(),
        to,
        source: SourceMode::Tunnel,
        proxy_protocol,
        ports: Vec::new(),
    }
}

pub fn config(
    gateway: SocketAddr,
    pki: &Pki,
    token: &[u8],
    services: Vec<Service>,
) -> TunnelConfig {
    TunnelConfig {
        gateway: gateway.to_string(),
        name: "home".to_string(),
        token: Secret::new(token.to_vec()),
        ca: Some(pki.ca.path().to_path_buf()),
        gateway_fingerprint: None,
        link: LinkTuning::default(),
        tun: None,
        admin: None,
        services,
        exits: Vec::new(),
    }
}

/// What the client reported, in owned form.
#[derive(Debug)]
pub enum Seen {
    Connected(u64),
    Failed(Option<RefuseReason>, Duration),
    Lost(u64),
    Replaced(usize),
}

/// A client running in-process, with its events.
pub struct Client {
    pub configs: watch::Sender<Arc<TunnelConfig>>,
    pub events: mpsc::UnboundedReceiver<Seen>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), RunError>>,
}

impl Client {
    pub fn start(config: TunnelConfig) -> Client {
        let (configs, watched) = watch::channel(Arc::new(config));
        let (seen, events) = mpsc::unbounded_channel();
        let hook = move |event: &ClientEvent<'_>| {
            let _ = seen.send(match event {
                ClientEvent::Connected { session_id, .. } => Seen::Connected(*session_id),
                ClientEvent::AttemptFailed { error, retry_in } => {
                    Seen::Failed(error.refusal(), *retry_in)
                }
                ClientEvent::SessionLost { session_id, .. } => Seen::Lost(*session_id),
                ClientEvent::ServicesReplaced { services } => Seen::Replaced(*services),
            });
        };
        let options = ClientOptions {
            settings: ClientSettings {
                backoff: BackoffSettings {
                    initial: Duration::from_millis(100),
                    ..BackoffSettings::default()
                },
                ..ClientSettings::default()
            },
            events: Some(Arc::new(hook)),
            status: None,
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_client_with(watched, options, shutdown.clone()));
        Client {
            configs,
            events,
            shutdown,
            task,
        }
    }

    pub async fn next_event(&mut self) -> anyhow::Result<Seen> {
        timeout(GUARD, self.events.recv())
            .await
            .context("no event from the client")?
            .context("client stopped")
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        timeout(GUARD, self.task)
            .await
            .context("client did not stop")???;
        Ok(())
    }
}

/// A TCP service on 127.0.0.1 that echoes each connection until EOF, then
/// closes its side.
pub async fn echo_service() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    Ok(addr)
}

/// A TCP service on 127.0.0.1 that records everything its first
/// connection sent, up to EOF.
pub async fn recording_service() -> anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<Vec<u8>>>)>
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await?;
        Ok(received)
    });
    Ok((addr, task))
}

/// A loopback address where nothing listens.
pub async fn closed_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    Ok(listener.local_addr()?)
}

/// The client address the fake gateway reports by default.
pub const CLIENT: &str = "203.0.113.7:40000";

/// A stream header for `host` from [`CLIENT`].
pub fn header(host: &str) -> anyhow::Result<StreamHeader> {
    header_from(host, CLIENT.parse()?)
}

/// A stream header for `host` from `client`.
pub fn header_from(host: &str, client: SocketAddr) -> anyhow::Result<StreamHeader> {
    Ok(StreamHeader {
        client,
        reached: "198.51.100.1:443".parse()?,
        protocol: None,
        host: Some(Hostname::parse_str(host)?),
        answer: false,
        exit: None,
        datagrams: false,
    })
}

/// Opens a stream for `host`, sends `payload`, finishes, and reads the
/// answer to its end.
pub async fn exchange(session: &Session, host: &str, payload: &[u8]) -> anyhow::Result<Vec<u8>> {
    exchange_with(session, &header(host)?, payload).await
}

/// Opens a stream with `header`, sends `payload`, finishes, and reads the
/// answer to its end.
pub async fn exchange_with(
    session: &Session,
    header: &StreamHeader,
    payload: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let (mut send, mut recv) = session.open_stream(header).await?;
    send.write_all(payload).await?;
    send.finish()?;
    Ok(timeout(GUARD, recv.read_to_end(MAX_READ)).await??)
}

/// Opens a stream for `host` and returns the code it was reset with.
pub async fn reset_code(session: &Session, host: &str) -> anyhow::Result<u64> {
    let (mut send, mut recv) = session.open_stream(&header(host)?).await?;
    send.write_all(b"GET / HTTP/1.1\r\n\r\n").await?;
    match timeout(GUARD, recv.read_to_end(MAX_READ)).await? {
        Err(ReadToEndError::Read(ReadError::Reset(code))) => Ok(code.into_inner()),
        other => bail!("expected a reset, got {other:?}"),
    }
}

pub async fn gateway_and_client(
    services: impl FnOnce(SocketAddr) -> Vec<Service>,
) -> anyhow::Result<(FakeGateway, Client, Session, Pki)> {
    let pki = pki()?;
    let mut gateway = FakeGateway::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &pki)?;
    let client = Client::start(config(gateway.addr, &pki, TOKEN, services(gateway.addr)));
    let session = gateway.next_session().await?;
    Ok((gateway, client, session, pki))
}
