//! `portico-tunnel` run in-process as a library: a fake gateway built from
//! portico-link's server side that authenticates tunnel "home" and hands
//! each session to the test, the tunnel client in a task with its events,
//! and helpers that open streams on a session.
//!
//! The gateway's certificate comes from the test CA of [`crate::certs`]
//! (a leaf whose names include 127.0.0.1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portico_config::model::{LinkTuning, ProxyVersion, Service, SourceMode};
use portico_config::{HostPattern, Secret, TunnelConfig};
use portico_link::{
    FailureLimiter, LimiterSettings, LinkSettings, RefuseReason, Session, StreamHeader,
    accept_connection, accept_session, load_cert_chain, load_private_key, server_endpoint,
    tokens_equal,
};
use portico_sniff::Hostname;
use portico_tunnel::{
    BackoffSettings, ClientEvent, ClientOptions, ClientSettings, RunError, run_client_with,
};
use quinn::Endpoint;
use tempfile::TempDir;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::certs::TestCa;

/// The token of tunnel "home".
pub const TOKEN: &[u8] = b"correct horse battery staple";
/// A bound on every wait, so a broken client fails the test instead of
/// hanging it. Never reached when things work.
pub const GUARD: Duration = Duration::from_secs(60);
/// Largest response a test reads back.
pub const MAX_READ: usize = 1 << 20;
/// The leaf name of the fake gateway's certificate in the test CA.
const GATEWAY_CERT: &str = "gateway";

/// The fake gateway's certificate (for 127.0.0.1) and the CA that signed it.
#[derive(Debug)]
pub struct Pki {
    ca: TestCa,
    _dir: TempDir,
}

impl Pki {
    /// A fresh test CA with one leaf for the fake gateway.
    pub fn create() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::create(dir.path(), &[GATEWAY_CERT]);
        Pki { ca, _dir: dir }
    }
}

/// A gateway that authenticates tunnel "home" with [`TOKEN`] and hands
/// every established session to the test.
#[derive(Debug)]
pub struct FakeGateway {
    /// The link endpoint.
    pub endpoint: Endpoint,
    /// Where it listens.
    pub addr: SocketAddr,
    sessions: mpsc::UnboundedReceiver<Session>,
    _accepting: JoinHandle<()>,
}

impl FakeGateway {
    /// Listens on `bind` with the certificate of `pki`.
    pub fn start(bind: SocketAddr, pki: &Pki) -> anyhow::Result<FakeGateway> {
        let settings = LinkSettings::default();
        let endpoint = server_endpoint(
            bind,
            load_cert_chain(&pki.ca.cert(GATEWAY_CERT))?,
            load_private_key(&pki.ca.key(GATEWAY_CERT))?,
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
            _accepting: accepting,
        })
    }

    /// The next session a tunnel client established (bounded by [`GUARD`]).
    pub async fn next_session(&mut self) -> anyhow::Result<Session> {
        timeout(GUARD, self.sessions.recv())
            .await
            .context("no session from the tunnel client")?
            .context("gateway stopped")
    }
}

/// A service of the tunnel client: `hosts` delivered to `to`.
pub fn service(hosts: &[&str], to: SocketAddr, proxy_protocol: Option<ProxyVersion>) -> Service {
    Service {
        hosts: hosts
            .iter()
            .map(|host| HostPattern::parse(host))
            .collect::<Result<_, _>>()
            .expect("valid host patterns"),
        to,
        source: SourceMode::Tunnel,
        proxy_protocol,
        ports: Vec::new(),
    }
}

/// The configuration of tunnel "home" on `gateway`, trusting `pki`'s CA.
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
        ca: Some(pki.ca.ca()),
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
    /// A session was established (its id).
    Connected(u64),
    /// An attempt failed: the gateway's refusal, if any, and the back-off.
    Failed(Option<RefuseReason>, Duration),
    /// A session was lost (its id).
    Lost(u64),
    /// A new configuration's services replaced the old (their number).
    Replaced(usize),
}

/// A client running in-process, with its events.
#[derive(Debug)]
pub struct Client {
    /// Sends a new configuration (a reload).
    pub configs: watch::Sender<Arc<TunnelConfig>>,
    events: mpsc::UnboundedReceiver<Seen>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
}

impl Client {
    /// Starts the client on `config`, retrying after 100 ms at first.
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

    /// The client's next event (bounded by [`GUARD`]).
    pub async fn next_event(&mut self) -> anyhow::Result<Seen> {
        timeout(GUARD, self.events.recv())
            .await
            .context("no event from the client")?
            .context("client stopped")
    }

    /// Stops the client and waits for it to finish cleanly.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        timeout(GUARD, self.task)
            .await
            .context("client did not stop")???;
        Ok(())
    }
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
