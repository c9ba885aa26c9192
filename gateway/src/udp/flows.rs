//! The flow table of one UDP listener: one entry per client address and
//! port, capped in total (`max_flows`) and per client IP
//! (`max_flows_per_ip`). Without I/O: the listener's loop owns it, so no
//! lock is taken per datagram.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// Which flow cap a new flow would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowLimit {
    /// `max_flows`.
    Total,
    /// `max_flows_per_ip`.
    PerIp,
}

/// Flows by client address, with the per-IP counts the caps need.
#[derive(Debug)]
pub(crate) struct FlowTable<T> {
    flows: HashMap<SocketAddr, T>,
    per_ip: HashMap<IpAddr, usize>,
    max_total: usize,
    max_per_ip: usize,
}

/// The address a client is counted under: IPv4-mapped IPv6 as IPv4.
fn counted(addr: &SocketAddr) -> IpAddr {
    addr.ip().to_canonical()
}

impl<T> FlowTable<T> {
    /// An empty table with these caps.
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Self {
        FlowTable {
            flows: HashMap::new(),
            per_ip: HashMap::new(),
            max_total,
            max_per_ip,
        }
    }

    /// New caps (a reload); flows over them stay until they end.
    pub(crate) fn set_limits(&mut self, max_total: usize, max_per_ip: usize) {
        self.max_total = max_total;
        self.max_per_ip = max_per_ip;
    }

    /// The flow of `client`, if open.
    pub(crate) fn get_mut(&mut self, client: &SocketAddr) -> Option<&mut T> {
        self.flows.get_mut(client)
    }

    /// Opens a flow for `client` (which has none), unless a cap is reached.
    pub(crate) fn insert(&mut self, client: SocketAddr, flow: T) -> Result<&mut T, FlowLimit> {
        if self.flows.len() >= self.max_total {
            return Err(FlowLimit::Total);
        }
        let ip = counted(&client);
        let n = self.per_ip.get(&ip).copied().unwrap_or(0);
        if n >= self.max_per_ip {
            return Err(FlowLimit::PerIp);
        }
        self.per_ip.insert(ip, n + 1);
        let slot = match self.flows.entry(client) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                // Not expected (callers look first); replace, and undo the
                // count taken above since the address was already counted.
                self.per_ip.insert(ip, n);
                e.insert(flow);
                e.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(e) => e.insert(flow),
        };
        Ok(slot)
    }

    /// Ends the flow of `client`, returning it.
    pub(crate) fn remove(&mut self, client: &SocketAddr) -> Option<T> {
        let flow = self.flows.remove(client)?;
        self.uncount(client);
        Some(flow)
    }

    fn uncount(&mut self, client: &SocketAddr) {
        let ip = counted(client);
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Keeps the flows for which `keep` is true and ends the others.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&SocketAddr, &mut T) -> bool) {
        let mut ended = Vec::new();
        self.flows.retain(|addr, flow| {
            let k = keep(addr, flow);
            if !k {
                ended.push(*addr);
            }
            k
        });
        for addr in ended {
            self.uncount(&addr);
        }
    }

    /// Flows open.
    pub(crate) fn len(&self) -> usize {
        self.flows.len()
    }

    /// Distinct client IPs with a flow.
    #[cfg(test)]
    pub(crate) fn ips(&self) -> usize {
        self.per_ip.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address in test")
    }

    #[test]
    fn caps_total_and_per_ip() {
        let mut t = FlowTable::new(3, 2);
        assert!(t.insert(addr("192.0.2.1:1000"), 1).is_ok());
        assert!(t.insert(addr("192.0.2.1:1001"), 2).is_ok());
        assert_eq!(
            t.insert(addr("192.0.2.1:1002"), 3).err(),
            Some(FlowLimit::PerIp)
        );
        // The mapped form of the same address is the same client IP.
        assert_eq!(
            t.insert(addr("[::ffff:192.0.2.1]:1003"), 3).err(),
            Some(FlowLimit::PerIp)
        );
        assert!(t.insert(addr("192.0.2.2:1000"), 3).is_ok());
        assert_eq!(
            t.insert(addr("192.0.2.3:1000"), 4).err(),
            Some(FlowLimit::Total)
        );
        assert_eq!(t.remove(&addr("192.0.2.1:1000")), Some(1));
        assert!(t.insert(addr("192.0.2.1:1002"), 5).is_ok());
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn retain_keeps_counts_right() {
        let mut t = FlowTable::new(10, 10);
        for port in 1..=5 {
            t.insert(addr(&format!("198.51.100.7:{port}")), port)
                .expect("under the caps");
        }
        t.retain(|_, v| *v % 2 == 0);
        assert_eq!(t.len(), 2);
        assert_eq!(t.ips(), 1);
        t.retain(|_, _| false);
        assert_eq!(t.len(), 0);
        assert_eq!(t.ips(), 0);
        assert!(t.get_mut(&addr("198.51.100.7:2")).is_none());
    }

    #[test]
    fn lowering_the_caps_keeps_open_flows() {
        let mut t = FlowTable::new(10, 10);
        t.insert(addr("203.0.113.1:1"), ()).expect("room");
        t.insert(addr("203.0.113.1:2"), ()).expect("room");
        t.set_limits(1, 1);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.insert(addr("203.0.113.2:1"), ()).err(),
            Some(FlowLimit::Total)
        );
    }
}
