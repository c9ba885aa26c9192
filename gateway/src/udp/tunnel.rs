//! A routed flow's side toward a tunnel client: one link stream per flow,
//! whose header says who the client is, what it reached and its name, with
//! the *datagrams* flag; each datagram then travels as a QUIC datagram
//! tagged with the stream's id (`portico_link::flows`), or, when it does
//! not fit the link's datagram size, framed on the stream
//! (`portico_link::datagram`); both ways. The flow's datagrams reach the
//! writer task through a bounded queue, so the listener's loop never waits
//! on the link: a full queue drops the datagram, as a full socket would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use portico_link::{StreamHeader, datagram};
use portico_sniff::{Hostname, Protocol};
use quinn::VarInt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{UdpDrop, UdpMetrics};
use crate::tunnel::{Opened, TunnelRegistry, open_stream};

use super::upstream::{Activity, ToClient};

/// Datagrams queued toward the link per flow; past it they are dropped.
pub(crate) const QUEUE_DATAGRAMS: usize = 256;

/// Opens the flow's stream on a live session of tunnel `name`; the error is
/// the detail to log.
pub(crate) async fn open(
    registry: &TunnelRegistry,
    name: &str,
    client: SocketAddr,
    reached: SocketAddr,
    (protocol, host): (Protocol, Option<Hostname>),
) -> Result<Opened, String> {
    let header = StreamHeader {
        client,
        reached,
        protocol: Some(protocol),
        host,
        answer: false,
        exit: None,
        datagrams: true,
    };
    open_stream(registry, name, &header).await
}

/// Relays a flow over its stream until `stop`, the queue's closing (the
/// flow ended) or the stream's end: the queue's datagrams to the link, the
/// link's datagrams to `client` through `listener`.
pub(crate) async fn relay(
    (live, (mut send, mut recv)): Opened,
    mut queue: mpsc::Receiver<Vec<u8>>,
    to_client: Arc<ToClient>,
    activity: Arc<Activity>,
    metrics: Arc<UdpMetrics>,
    stop: CancellationToken,
) {
    let id = VarInt::from(send.id()).into_inner();
    let flows = live.session.datagrams.clone();
    let mut incoming = flows.register(id);
    // Until the tunnel client has answered, it may not have registered the
    // flow yet (its stream's header can arrive after a datagram): the
    // first datagrams go on the stream, which it reads in order.
    let answered = AtomicBool::new(false);
    let deliver = |reply: &[u8]| {
        answered.store(true, Ordering::Relaxed);
        match to_client.send(reply, reply.len()) {
            Ok(()) => {
                metrics.to_client(reply.len());
                activity.touch(Instant::now());
            }
            Err(_) => metrics.dropped(UdpDrop::SendFailed, 1),
        }
    };
    let to_link = async {
        while let Some(d) = queue.recv().await {
            let sent = answered.load(Ordering::Relaxed) && flows.send(id, &d);
            if !sent && datagram::write(&mut send, &d).await.is_err() {
                break;
            }
            metrics.to_backend(d.len());
        }
        let _ = send.finish();
    };
    // Two readers, each in a loop of its own: a frame read on the stream
    // is never cancelled halfway.
    let from_stream = async {
        let mut buf = Vec::new();
        while let Ok(Some(n)) = datagram::read(&mut recv, &mut buf).await {
            deliver(buf.get(..n).unwrap_or_default());
        }
    };
    let from_datagrams = async {
        while let Some(d) = incoming.datagrams.recv().await {
            deliver(&d);
        }
    };
    tokio::select! {
        () = stop.cancelled() => {}
        () = to_link => {}
        () = from_stream => {}
        () = from_datagrams => {}
    }
}
