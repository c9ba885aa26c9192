//! The state machine that moves bytes both ways between a client and its
//! backend: one hand-written future that owns both sockets, so an idle
//! forwarded connection costs a few hundred bytes of task state and no
//! buffer, pipe or timer registration beyond the sockets' own.
//!
//! Each direction is a [`Way`]: waiting for its source, holding bytes for
//! its destination (a buffer that exists only while it holds bytes), or, on
//! Linux, moving a bulk burst through a pipe with splice(2)
//! ([`super::splice`]). Each socket's read readiness is watched by one
//! direction and its write readiness by the other, so the two never contend
//! for a waker slot.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::types::{End, FORWARD_BUFFER, Path, half_close};
use crate::metrics::{CountBytes as _, ListenerMetrics};

/// Which way bytes run, for the byte counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToBackend,
    ToClient,
}

/// What one direction is doing.
#[derive(Debug)]
enum State {
    /// Waiting for the source to have bytes (or end).
    Read,
    /// Holding `buf[pos..]` for the destination. A buffer filled by one
    /// read ([`FORWARD_BUFFER`] bytes) marks bulk data: more is waiting.
    Write { buf: Vec<u8>, pos: usize },
    /// A bulk burst through a pipe; `held` bytes are in it.
    #[cfg(target_os = "linux")]
    Splice {
        pipe: super::splice::Pipe,
        held: usize,
    },
    /// End of stream passed on.
    Done,
}

/// One direction: its state, its total, whether splice(2) may be tried.
/// (Kept small: an idle connection's memory is mostly this state.)
#[derive(Debug)]
struct Way {
    state: State,
    total: u64,
    splice: bool,
}

/// The idle limit and its timer.
#[derive(Debug)]
struct Idle {
    limit: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

/// Both directions of one forwarded connection; completes when both have
/// ended, on the first error, or after the idle limit.
#[derive(Debug)]
pub(crate) struct Pump {
    client: TcpStream,
    backend: TcpStream,
    up: Way,
    down: Way,
    metrics: Arc<ListenerMetrics>,
    /// Boxed: most listeners have no idle limit, and their connections
    /// should not carry room for one.
    idle: Option<Box<Idle>>,
}

/// Where a move is reported: the way's total, the listener's counters and
/// the idle clock.
struct Report<'a> {
    metrics: &'a ListenerMetrics,
    idle: Option<&'a mut Idle>,
}

impl Pump {
    /// A pump that first writes `prefix` to the backend.
    pub(crate) fn new(
        client: TcpStream,
        backend: TcpStream,
        prefix: Vec<u8>,
        idle: Option<Duration>,
        metrics: Arc<ListenerMetrics>,
        path: Path,
    ) -> Self {
        let splice = path == Path::Splice && cfg!(target_os = "linux");
        let up_state = if prefix.is_empty() {
            State::Read
        } else {
            State::Write {
                buf: prefix,
                pos: 0,
            }
        };
        let now = Instant::now();
        Self {
            client,
            backend,
            up: Way {
                state: up_state,
                total: 0,
                splice,
            },
            down: Way {
                state: State::Read,
                total: 0,
                splice,
            },
            metrics,
            idle: idle.map(|limit| {
                Box::new(Idle {
                    limit,
                    last: now,
                    timer: Box::pin(tokio::time::sleep_until((now + limit).into())),
                })
            }),
        }
    }

    /// Bytes written to the backend and to the client so far.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (self.up.total, self.down.total)
    }

    /// Whether either direction holds a pipe now.
    #[cfg(all(test, target_os = "linux"))]
    pub(crate) fn holds_pipe(&self) -> bool {
        [&self.up.state, &self.down.state]
            .iter()
            .any(|s| matches!(s, State::Splice { .. }))
    }

    /// Ready when the idle limit has passed since the last byte moved.
    fn poll_idle(idle: &mut Idle, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(idle.timer.as_mut().poll(cx));
            let deadline = idle.last + idle.limit;
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            idle.timer.as_mut().reset(deadline.into());
        }
    }
}

impl Future for Pump {
    type Output = io::Result<End>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (client, backend) = (&this.client, &this.backend);
        let mut report = Report {
            metrics: &this.metrics,
            idle: this.idle.as_deref_mut(),
        };
        let down_done = matches!(this.down.state, State::Done);
        let up = this.up.poll(
            (client, backend),
            Direction::ToBackend,
            down_done,
            &mut report,
            cx,
        )?;
        let up_done = matches!(this.up.state, State::Done);
        let down = this.down.poll(
            (backend, client),
            Direction::ToClient,
            up_done,
            &mut report,
            cx,
        )?;
        if up.is_ready() && down.is_ready() {
            return Poll::Ready(Ok(End::Done));
        }
        if let Some(idle) = this.idle.as_deref_mut()
            && Pump::poll_idle(idle, cx).is_ready()
        {
            return Poll::Ready(Ok(End::Idle));
        }
        Poll::Pending
    }
}

impl Report<'_> {
    fn moved(&mut self, way: Direction, n: usize) {
        let n = n as u64;
        match way {
            Direction::ToBackend => self.metrics.add_to_backend(n),
            Direction::ToClient => self.metrics.add_to_client(n),
        }
        if let Some(idle) = self.idle.as_deref_mut() {
            idle.last = Instant::now();
        }
    }
}

impl Way {
    /// Moves bytes `from` → `to` until the source has nothing, the
    /// destination has no room, or the source ended (then `Ready(Ok)`).
    ///
    /// End of stream is passed on with a half-close, except when the other
    /// direction is already done: then the pump is over and both sockets
    /// are closed at once, which sends the FIN anyway (their receive queues
    /// are empty, so it is a FIN, not a reset): one system call less.
    fn poll(
        &mut self,
        (from, to): (&TcpStream, &TcpStream),
        direction: Direction,
        other_done: bool,
        report: &mut Report<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(Ok(())),
                State::Read => {
                    ready!(from.poll_read_ready(cx))?;
                    // Allocated only now that bytes are there, freed as soon
                    // as they are delivered: an idle connection holds none.
                    let mut buf = Vec::with_capacity(FORWARD_BUFFER);
                    match read_draining(from, &mut buf) {
                        Ok(0) => {
                            if !other_done {
                                half_close(to);
                            }
                            self.state = State::Done;
                        }
                        Ok(_) => self.state = State::Write { buf, pos: 0 },
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                        Err(err) => return Poll::Ready(Err(err)),
                    }
                }
                State::Write { buf, pos } => {
                    ready!(to.poll_write_ready(cx))?;
                    let rest = buf.get(*pos..).unwrap_or_default();
                    match to.try_write(rest) {
                        Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                        Ok(n) => {
                            *pos += n;
                            self.total += n as u64;
                            report.moved(direction, n);
                            if *pos >= buf.len() {
                                let bulk = buf.len() == FORWARD_BUFFER;
                                self.state = self.after_write(bulk);
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                        Err(err) => return Poll::Ready(Err(err)),
                    }
                }
                #[cfg(target_os = "linux")]
                State::Splice { pipe, held } => {
                    if *held == 0 {
                        ready!(from.poll_read_ready(cx))?;
                        match pipe.fill(from) {
                            Ok(0) => {
                                if !other_done {
                                    half_close(to);
                                }
                                self.state = State::Done;
                            }
                            Ok(n) => *held = n,
                            // The burst is over: the pipe goes with it.
                            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                                self.state = State::Read;
                            }
                            // The pipe is empty whenever the source is read, so
                            // nothing is lost by copying from here on.
                            Err(err) if super::splice::unsupported(&err) => {
                                tracing::debug!(error = %err, "splice not available here; copying");
                                self.splice = false;
                                self.state = State::Read;
                            }
                            Err(err) => return Poll::Ready(Err(err)),
                        }
                    } else {
                        ready!(to.poll_write_ready(cx))?;
                        match pipe.drain(to, *held) {
                            Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                            Ok(n) => {
                                *held = held.saturating_sub(n);
                                self.total += n as u64;
                                report.moved(direction, n);
                            }
                            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                            Err(err) => return Poll::Ready(Err(err)),
                        }
                    }
                }
            }
        }
    }

    /// What follows a delivered buffer: a bulk burst goes on through a
    /// pipe where splice(2) is allowed and a pipe can be had; anything else
    /// waits for the source again.
    fn after_write(&mut self, bulk: bool) -> State {
        #[cfg(target_os = "linux")]
        if bulk && self.splice {
            match super::splice::Pipe::open() {
                Ok(pipe) => return State::Splice { pipe, held: 0 },
                // No pipe (out of descriptors, or the pipe quota): nothing
                // is in flight, so this burst is copied instead.
                Err(err) => tracing::debug!(error = %err, "no pipe for a burst; copying"),
            }
        }
        let _ = bulk;
        State::Read
    }
}

/// Reads what `from` has into `buf` (at most its spare capacity). A read
/// that does not fill `buf` found the socket drained, so the socket's read
/// readiness is cleared with it: the next read then waits for the kernel's
/// next event instead of costing a system call that fails with `EAGAIN`.
///
/// Race-free by tokio's design: readiness is only cleared if no event
/// arrived since this read began, and end of stream (`EPOLLRDHUP`) is never
/// cleared, so a FIN queued behind the bytes is still seen.
fn read_draining(from: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let room = buf.capacity().saturating_sub(buf.len());
    let mut got = None;
    let read = from.try_io(Interest::READABLE, || {
        let n = from.try_read_buf(&mut *buf)?;
        got = Some(n);
        if n > 0 && n < room {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match (read, got) {
        (Err(err), Some(n)) if err.kind() == io::ErrorKind::WouldBlock => Ok(n),
        (read, _) => read,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::forward::test_support::pair;
    use crate::metrics::Metrics;

    /// Bytes immediately followed by end of stream, both ways, over many
    /// connections: a short read clears the read readiness, and the FIN
    /// queued behind the bytes must still be seen every time.
    async fn fin_right_behind_the_bytes(path: Path) {
        for round in 0..100usize {
            let (mut client, client_side) = pair().await;
            let (backend_side, mut backend) = pair().await;
            let metrics = Metrics::default().listener("t");
            let pump = Pump::new(
                client_side,
                backend_side,
                b"P".to_vec(),
                None,
                metrics,
                path,
            );
            let task = tokio::spawn(pump);
            let request = vec![b'q'; 1 + round * 37];
            let answer = vec![b'a'; 1 + round * 53];
            let conversation = async {
                client.write_all(&request).await.expect("request");
                client.shutdown().await.expect("client FIN");
                let mut got = Vec::new();
                backend.read_to_end(&mut got).await.expect("backend reads");
                assert_eq!(got.len(), request.len() + 1, "round {round}");
                backend.write_all(&answer).await.expect("answer");
                backend.shutdown().await.expect("backend FIN");
                let mut back = Vec::new();
                client.read_to_end(&mut back).await.expect("client reads");
                assert_eq!(back, answer, "round {round}");
            };
            tokio::time::timeout(Duration::from_secs(10), conversation)
                .await
                .expect("no end of stream may be lost");
            let end = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the pump ends once both ways ended")
                .expect("join")
                .expect("no error");
            assert_eq!(end, End::Done);
        }
    }

    #[tokio::test]
    async fn fin_behind_bytes_is_seen_with_splice() {
        fin_right_behind_the_bytes(Path::Splice).await;
    }

    #[tokio::test]
    async fn fin_behind_bytes_is_seen_with_copy() {
        fin_right_behind_the_bytes(Path::Copy).await;
    }
}
