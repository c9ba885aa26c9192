//! The smoltcp side of the TUN: packet queues that the stack task fills
//! from, and empties into, the TUN device.

use std::collections::VecDeque;

use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Most packets queued for transmission before smoltcp is told to wait:
/// the stack task writes them to the TUN and polls again.
pub(super) const TX_BATCH: usize = 256;

/// IP packets between smoltcp and the TUN device.
pub(crate) struct PacketQueues {
    /// Packets read from the TUN, not yet seen by smoltcp.
    pub(crate) rx: VecDeque<Vec<u8>>,
    /// Packets smoltcp produced, not yet written to the TUN.
    pub(crate) tx: Vec<Vec<u8>>,
    mtu: usize,
}

impl PacketQueues {
    /// Empty queues for a device with this MTU.
    pub(crate) fn new(mtu: usize) -> Self {
        Self {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu,
        }
    }

    /// Whether smoltcp stopped sending because the tx queue is full.
    pub(crate) fn tx_full(&self) -> bool {
        self.tx.len() >= TX_BATCH
    }
}

/// One received packet.
pub(crate) struct RxToken(Vec<u8>);

/// A slot for one packet to send.
pub(crate) struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut packet = vec![0; len];
        let result = f(&mut packet);
        self.0.push(packet);
        result
    }
}

impl phy::Device for PacketQueues {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((RxToken(packet), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        if self.tx_full() {
            None
        } else {
            Some(TxToken(&mut self.tx))
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        // The kernel hands us packets with valid checksums: verifying them
        // again is wasted work; ours must carry correct ones.
        let mut checksum = ChecksumCapabilities::default();
        checksum.ipv4 = Checksum::Tx;
        checksum.tcp = Checksum::Tx;
        checksum.udp = Checksum::Tx;
        checksum.icmpv4 = Checksum::Tx;
        checksum.icmpv6 = Checksum::Tx;
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps.checksum = checksum;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{Device, TxToken as _};

    #[test]
    fn transmit_stops_at_a_full_batch() {
        let mut queues = PacketQueues::new(1500);
        for _ in 0..TX_BATCH {
            let token = queues.transmit(Instant::ZERO).unwrap();
            token.consume(20, |p| p.fill(1));
        }
        assert!(queues.tx_full());
        assert!(queues.transmit(Instant::ZERO).is_none());
        assert!(queues.tx.iter().all(|p| p == &vec![1; 20]));
    }

    #[test]
    fn receive_hands_out_queued_packets_in_order() {
        let mut queues = PacketQueues::new(1500);
        assert!(queues.receive(Instant::ZERO).is_none());
        queues.rx.push_back(vec![1]);
        queues.rx.push_back(vec![2]);
        let (rx, _) = queues.receive(Instant::ZERO).unwrap();
        assert_eq!(phy::RxToken::consume(rx, |p| p.to_vec()), vec![1]);
        assert_eq!(queues.rx.len(), 1);
        let caps = queues.capabilities();
        assert_eq!(caps.medium, Medium::Ip);
        assert_eq!(caps.max_transmission_unit, 1500);
    }
}
