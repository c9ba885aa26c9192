//! A minimal HTTP listener that answers HTTP-01 challenges from a manager's
//! [`ChallengeStore`] through `http01_response`, as the gateway's HTTP
//! listener does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};

use anyhow::{Result, bail};
use portico_gateway::acme::{ChallengeStore, http01_response};
use tokio_util::sync::CancellationToken;

use super::IO_BOUND;

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
