//! Stage 2, refusing: the one path by which any later stage turns a
//! connection away. [`Refusals::refuse`] logs the refusal once at `info`
//! (client, listener, protocol, name, reason; capped by [`log_limit`]),
//! counts it, answers in the client's protocol ([`answer`]) and closes;
//! [`Refusals::record`] does the first two for a connection that cannot be
//! answered (a connection cap at accept, a failed TLS handshake).

use std::net::SocketAddr;
use std::sync::Arc;

use portico_config::model::Listener;
use portico_sniff::{Hostname, Protocol};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::accept::ListenerContext;
use crate::metrics::{Metrics, Outcome, protocol_label};

mod answer;
mod log_limit;

pub(crate) use answer::{ANSWER_WRITE_TIMEOUT, Reason, XmppHints, answer, send_and_close};
use log_limit::{LogLimit, Verdict};

/// Everything logged and counted about one refusal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal<'a> {
    /// The client (PROXY-carried if any).
    pub client: SocketAddr,
    /// The protocol, if known.
    pub protocol: Option<Protocol>,
    /// The name asked for, if any.
    pub host: Option<&'a Hostname>,
    /// Why.
    pub reason: Reason,
    /// Detail for the log.
    pub detail: &'a str,
}

/// The refusal path: the counters it adds to and the cap on its log lines.
#[derive(Debug)]
pub(crate) struct Refusals {
    metrics: Arc<Metrics>,
    log: LogLimit,
}

impl Refusals {
    /// Counts into `metrics`; logs at most `log_per_second` lines a second
    /// (`[limits] refusal_log_rate`).
    pub(crate) fn new(metrics: Arc<Metrics>, log_per_second: u32) -> Self {
        Self {
            metrics,
            log: LogLimit::new(log_per_second),
        }
    }

    /// Whether a refusal may be logged now; logs how many were left out
    /// before it, if any.
    pub(crate) fn may_log(&self) -> bool {
        match self.log.check() {
            Verdict::Log { left_out: 0 } => true,
            Verdict::Log { left_out } => {
                tracing::info!(
                    left_out,
                    "refusals not logged (over [limits] refusal_log_rate; all are counted in the metrics)"
                );
                true
            }
            Verdict::LeaveOut => false,
        }
    }

    /// Logs `refusal` once and counts it (as a refusal, and the connection
    /// with `outcome`); the caller closes the connection.
    pub(crate) fn record(
        &self,
        listener: &ListenerContext,
        refusal: &Refusal<'_>,
        outcome: Outcome,
    ) {
        let reason = refusal.reason.as_str();
        if self.may_log() {
            tracing::info!(
                client = %refusal.client,
                listener = %listener.name,
                protocol = protocol_label(refusal.protocol),
                name = refusal.host.map(Hostname::as_str).unwrap_or("-"),
                reason,
                detail = refusal.detail,
                "refused"
            );
        }
        self.metrics
            .count_refusal(&listener.name, refusal.protocol, reason);
        listener.metrics.count_connection(refusal.protocol, outcome);
    }

    /// Logs and counts `refusal`, then answers it in the client's protocol
    /// (`buf`: the bytes read so far, for an XMPP answer's stream header)
    /// and closes.
    pub(crate) async fn refuse(
        &self,
        stream: &mut TcpStream,
        buf: &[u8],
        refusal: Refusal<'_>,
        listener: &ListenerContext,
    ) {
        self.record(listener, &refusal, Outcome::Refused);
        let hints = XmppHints::from_bytes(buf, refusal.host.map(|h| h.as_str().to_owned()));
        let bytes = answer::answer(refusal.protocol, refusal.reason, &hints);
        send_and_close(stream, bytes.as_deref()).await;
    }
}

/// What a stage needs to end the connection it holds: where the connection
/// came in, the refusal path, and the hard stop (the shutdown grace period
/// is over: close what is left).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// The listener the connection came in on.
    pub listener: &'a ListenerContext,
    /// Its settings as they were when the connection came.
    pub settings: &'a Listener,
    /// The refusal path.
    pub refusals: &'a Refusals,
    /// Fires when the shutdown grace period is over.
    pub hard_stop: &'a CancellationToken,
}

impl Scope<'_> {
    /// [`Refusals::refuse`] on this scope's listener.
    pub(crate) async fn refuse(&self, stream: &mut TcpStream, buf: &[u8], refusal: Refusal<'_>) {
        self.refusals
            .refuse(stream, buf, refusal, self.listener)
            .await;
    }
}
