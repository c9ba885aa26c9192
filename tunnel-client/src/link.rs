//! A live session with the gateway: accept its streams, one task each, and
//! drain it (refuse new streams, let open ones finish, close) when it is
//! replaced or the client stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use portico_link::{Session, codes};
use quinn::{ConnectionError, Endpoint};
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout};
use tokio_util::task::TaskTracker;

use crate::deliver::{Delivery, abort, serve_stream};
use crate::settings::ClientSettings;

/// A session with the gateway and the tasks of its streams.
pub(crate) struct Link {
    /// The session.
    pub session: Session,
    /// The endpoint it runs on (kept until the session is closed).
    endpoint: Endpoint,
    /// The gateway address.
    pub gateway: SocketAddr,
    /// When the session was established.
    pub started: Instant,
    /// One task per forwarded connection.
    streams: TaskTracker,
}

impl Link {
    /// A link for a freshly established session.
    pub(crate) fn new(session: Session, endpoint: Endpoint, gateway: SocketAddr) -> Self {
        Link {
            session,
            endpoint,
            gateway,
            started: Instant::now(),
            streams: TaskTracker::new(),
        }
    }

    /// Accepts the gateway's streams and serves each in a task holding a
    /// permit from `permits`, until the connection is lost. Each task is
    /// tracked by this link and by `all` (every session's streams).
    ///
    /// Cancel safety: cancelling it loses no stream, and the tasks already
    /// started keep running.
    pub(crate) async fn serve(
        &self,
        delivery: &Delivery,
        permits: &Arc<Semaphore>,
        all: &TaskTracker,
    ) -> ConnectionError {
        let session = self.session.id;
        loop {
            let (mut send, mut recv) = match self.session.connection.accept_bi().await {
                Ok(stream) => stream,
                Err(err) => return err,
            };
            delivery.status.count_stream();
            match Arc::clone(permits).try_acquire_owned() {
                Ok(permit) => {
                    let delivery = delivery.clone();
                    let flows = self.session.datagrams.clone();
                    self.streams.spawn(all.track_future(async move {
                        serve_stream(delivery, (send, recv), session, flows).await;
                        drop(permit);
                    }));
                }
                Err(_) => {
                    tracing::warn!(
                        session,
                        limit = delivery.settings.max_streams,
                        "connection limit reached; refusing a forwarded connection"
                    );
                    abort(&mut send, &mut recv, codes::STREAM_UNDELIVERABLE);
                }
            }
        }
    }

    /// Refuses new streams (so the gateway can use another session), waits
    /// up to the shutdown grace for open ones to finish, then closes the
    /// session normally and waits, within the close timeout, for its tasks
    /// to end and the close to reach the gateway.
    pub(crate) async fn drain(self, settings: ClientSettings) {
        let session = self.session.id;
        self.streams.close();
        let finished = self.streams.wait();
        let deadline = sleep(settings.shutdown_grace);
        tokio::pin!(finished, deadline);
        loop {
            tokio::select! {
                () = &mut finished => break,
                () = &mut deadline => {
                    tracing::warn!(
                        session,
                        open = self.streams.len(),
                        "grace period over; closing open connections"
                    );
                    break;
                }
                accepted = self.session.connection.accept_bi() => match accepted {
                    Ok((mut send, mut recv)) => {
                        abort(&mut send, &mut recv, codes::STREAM_UNDELIVERABLE);
                    }
                    Err(_) => break,
                },
            }
        }
        self.session.close();
        // Both waits are bounded; what is left after them is dropped.
        let _ = timeout(settings.close_timeout, self.streams.wait()).await;
        let _ = timeout(settings.close_timeout, self.endpoint.wait_idle()).await;
        tracing::info!(session, "session closed");
    }
}
