//! In-process ACME pieces for the tests that run `portico-gateway`'s ACME
//! manager (or the whole gateway) as a library against Pebble: ACME
//! settings with short retries, a bounded async wait, and a minimal HTTP
//! listener that answers HTTP-01 challenges from a manager's
//! [`ChallengeStore`] through `http01_response`, as the gateway's HTTP
//! listener does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use portico_gateway::acme::{AcmeSettings, ChallengeStore, http01_response};
use tokio_util::sync::CancellationToken;

/// Bound on every wait of the in-process ACME tests (an order with Pebble
/// takes seconds; a hang fails instead of blocking forever).
pub const ACME_WAIT: Duration = Duration::from_secs(90);
/// Bound on each socket read and write of the in-process tests.
pub const IO_BOUND: Duration = Duration::from_secs(10);

/// Waits (bounded by [`ACME_WAIT`]) until `done` holds.
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > ACME_WAIT {
            bail!("gave up waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// ACME settings for tests: short retries and polls, and the test log
/// installed once (`RUST_LOG`, default `portico_gateway=debug`).
pub fn fast_acme_settings() -> AcmeSettings {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "portico_gateway=debug".into()),
        )
        .try_init();
    AcmeSettings {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        order_timeout: Duration::from_secs(60),
        poll_initial: Duration::from_millis(100),
        check_interval: Duration::from_secs(3600),
        http_timeout: Duration::from_secs(10),
        ..AcmeSettings::default()
    }
}

/// Cap on a request head the responder reads.
const MAX_REQUEST_HEAD: usize = 8192;

/// A minimal HTTP listener that answers from the manager's challenges, the
/// way the gateway's HTTP listener will; counts the challenges it answered.
pub struct Responder {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Challenge answers sent.
    pub answered: Arc<AtomicUsize>,
    cancel: CancellationToken,
}

impl Responder {
    /// Listens on a free port; answers from whatever store the slot holds.
    pub async fn start() -> Result<(Self, ChallengeStoreSlot)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let answered = Arc::new(AtomicUsize::new(0));
        let slot = ChallengeStoreSlot::default();
        let cancel = CancellationToken::new();
        let (count, store, stop) = (answered.clone(), slot.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((sock, _)) = accepted else { continue };
                let (count, store) = (count.clone(), store.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(IO_BOUND, answer(sock, &store, &count)).await;
                });
            }
        });
        Ok((
            Self {
                port,
                answered,
                cancel,
            },
            slot,
        ))
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The challenge store of whichever manager currently runs.
#[derive(Clone, Default)]
pub struct ChallengeStoreSlot(Arc<std::sync::Mutex<Option<ChallengeStore>>>);

impl ChallengeStoreSlot {
    /// Answer from `store` from now on.
    pub fn set(&self, store: ChallengeStore) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(store);
    }
    /// The store answers come from.
    pub fn get(&self) -> Option<ChallengeStore> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Answers one request.
async fn answer(
    mut sock: tokio::net::TcpStream,
    slot: &ChallengeStoreSlot,
    count: &AtomicUsize,
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD {
            bail!("request head too large");
        }
        let k = sock.read(&mut chunk).await?;
        if k == 0 {
            bail!("closed early");
        }
        head.extend_from_slice(chunk.get(..k).unwrap_or_default());
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let response = slot.get().and_then(|store| http01_response(&store, &path));
    match response {
        Some(bytes) => {
            count.fetch_add(1, Ordering::SeqCst);
            sock.write_all(&bytes).await?;
        }
        None => {
            sock.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await?;
        }
    }
    sock.shutdown().await?;
    Ok(())
}
