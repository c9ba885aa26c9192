//! UDP flows' datagrams as QUIC DATAGRAM frames (RFC 9221) on the link.
//!
//! A flow is a link stream with the *datagrams* flag; its datagrams travel
//! as QUIC datagrams that start with the stream's id (a QUIC varint), so
//! they are neither retransmitted nor held behind each other: a lost
//! client datagram stays lost, as on the client's own path, and the
//! client's QUIC (HTTP/3) recovers end to end. A datagram that does not fit
//! the link's current datagram size (before path MTU discovery has raised
//! it, or over it) goes framed on the flow's stream instead
//! ([`crate::datagram`]); the receiver reads both.
//!
//! [`FlowDatagrams`] is one connection's dispatcher: a task reads the
//! connection's datagrams and hands each to the flow registered for its
//! stream id (a bounded queue; a full queue drops the datagram), and
//! [`FlowDatagrams::send`] sends one. [`encode`] and [`decode`] are the
//! sans-IO framing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};
use quinn::Connection;
use tokio::sync::mpsc;

/// Datagrams queued for one flow before more are dropped.
pub const FLOW_QUEUE: usize = 256;

/// The largest value a QUIC varint holds (2^62 - 1).
const VARINT_MAX: u64 = (1 << 62) - 1;

/// Writes `id` as a QUIC variable-length integer (RFC 9000 §16); `None`
/// when it is over 2^62 - 1.
fn put_varint(id: u64, buf: &mut impl BufMut) -> Option<()> {
    match id {
        0..=63 => buf.put_u8(id as u8),
        64..=16_383 => buf.put_u16(0x4000 | id as u16),
        16_384..=1_073_741_823 => buf.put_u32(0x8000_0000 | id as u32),
        _ if id <= VARINT_MAX => buf.put_u64(0xc000_0000_0000_0000 | id),
        _ => return None,
    }
    Some(())
}

/// Reads a QUIC varint from the front of `bytes`: the value and its length.
fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let len = 1usize << (first >> 6);
    let raw = bytes.get(..len)?;
    let mut value = u64::from(first & 0x3f);
    for b in raw.iter().skip(1) {
        value = (value << 8) | u64::from(*b);
    }
    Some((value, len))
}

/// A flow datagram: the stream id, then the payload.
pub fn encode(stream_id: u64, payload: &[u8]) -> Option<Bytes> {
    let mut buf = BytesMut::with_capacity(8 + payload.len());
    put_varint(stream_id, &mut buf)?;
    buf.put_slice(payload);
    Some(buf.freeze())
}

/// The stream id and payload of a flow datagram; `None` when it is too
/// short to hold an id.
pub fn decode(datagram: &Bytes) -> Option<(u64, Bytes)> {
    let (id, len) = get_varint(datagram)?;
    Some((id, datagram.slice(len..)))
}

/// The flows registered on one connection, by stream id.
type Registry = Arc<Mutex<HashMap<u64, mpsc::Sender<Bytes>>>>;

/// One connection's flow datagrams: the dispatcher of received ones and
/// the sender. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FlowDatagrams {
    connection: Connection,
    flows: Registry,
}

/// A registered flow: its received datagrams; dropping it unregisters.
#[derive(Debug)]
pub struct FlowReceiver {
    id: u64,
    flows: Registry,
    /// The flow's datagrams, in arrival order.
    pub datagrams: mpsc::Receiver<Bytes>,
}

impl Drop for FlowReceiver {
    fn drop(&mut self) {
        self.flows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl FlowDatagrams {
    /// Starts dispatching `connection`'s datagrams (until it closes).
    pub fn start(connection: Connection) -> FlowDatagrams {
        let flows: Registry = Arc::default();
        let dispatch = Arc::clone(&flows);
        let reading = connection.clone();
        tokio::spawn(async move {
            while let Ok(datagram) = reading.read_datagram().await {
                let Some((id, payload)) = decode(&datagram) else {
                    continue;
                };
                let sender = dispatch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&id)
                    .cloned();
                // Unknown flow (ended already) or a full queue: dropped.
                if let Some(sender) = sender {
                    let _ = sender.try_send(payload);
                }
            }
        });
        FlowDatagrams { connection, flows }
    }

    /// Registers the flow of stream `id` for received datagrams.
    pub fn register(&self, id: u64) -> FlowReceiver {
        let (tx, rx) = mpsc::channel(FLOW_QUEUE);
        self.flows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        FlowReceiver {
            id,
            flows: Arc::clone(&self.flows),
            datagrams: rx,
        }
    }

    /// Sends `payload` of the flow of stream `id` as a QUIC datagram, if it
    /// fits the link's current datagram size; false when it does not (or
    /// the peer takes no datagrams), for the caller to send it on the
    /// stream instead. A datagram the connection drops (its send buffer
    /// full) counts as sent: it is lost, as UDP may be.
    pub fn send(&self, id: u64, payload: &[u8]) -> bool {
        let Some(max) = self.connection.max_datagram_size() else {
            return false;
        };
        if payload.len() + 8 > max {
            return false;
        }
        match encode(id, payload) {
            Some(datagram) => {
                let _ = self.connection.send_datagram(datagram);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_length() {
        for id in [
            0,
            63,
            64,
            16_383,
            16_384,
            1_073_741_823,
            1_073_741_824,
            VARINT_MAX,
        ] {
            let d = encode(id, b"x").expect("in range");
            assert_eq!(decode(&d), Some((id, Bytes::from_static(b"x"))), "{id}");
        }
        assert_eq!(encode(VARINT_MAX + 1, b""), None);
        assert_eq!(decode(&Bytes::new()), None);
        // A long varint cut short.
        assert_eq!(decode(&Bytes::from_static(&[0xc0, 0, 0])), None);
    }
}
