//! Connection caps: in total (a semaphore whose owned permit travels with the
//! connection's task) and per client IP (a counted map entry released when
//! the connection's guard drops). Over a cap, a connection is refused at
//! once; nothing queues.
//!
//! A trusted balancer's connections are admitted against the total cap
//! only; their per-IP place is taken for the client its PROXY header names.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// `[limits].max_connections` open connections already.
    #[error("too many connections in total")]
    Total,
    /// `[limits].max_connections_per_ip` open connections from this IP already.
    #[error("too many connections from this address")]
    PerIp,
}

impl LimitExceeded {
    /// The reason label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitExceeded::Total => "limit_total",
            LimitExceeded::PerIp => "limit_per_ip",
        }
    }
}

/// The caps shared by all listeners.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    total: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_ip: usize,
}

/// Proof that a connection was admitted; dropping it frees its place.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    ip: Option<IpGuard>,
}

impl Admission {
    /// Whether this connection holds a per-IP place yet.
    pub fn has_ip(&self) -> bool {
        self.ip.is_some()
    }
}

/// Decrements the per-IP count on drop.
#[derive(Debug)]
struct IpGuard {
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut map = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl ConnectionLimits {
    /// Caps of `max_total` connections overall and `max_per_ip` per client IP.
    pub fn new(max_total: usize, max_per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            total: Arc::new(Semaphore::new(max_total.min(Semaphore::MAX_PERMITS))),
            per_ip: Arc::new(Mutex::new(HashMap::new())),
            max_per_ip,
        }
    }

    /// Admits a connection from `ip`, or says which cap it would exceed.
    pub fn try_admit(&self, ip: IpAddr) -> Result<Admission, LimitExceeded> {
        let mut admission = self.try_admit_total()?;
        self.admit_ip(&mut admission, ip)?;
        Ok(admission)
    }

    /// Admits a connection against the total cap only (a trusted balancer's;
    /// see [`ConnectionLimits::admit_ip`]).
    pub fn try_admit_total(&self) -> Result<Admission, LimitExceeded> {
        let permit = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| LimitExceeded::Total)?;
        Ok(Admission {
            _permit: permit,
            ip: None,
        })
    }

    /// Takes a per-IP place for `ip` in `admission` (replacing any it held).
    pub fn admit_ip(&self, admission: &mut Admission, ip: IpAddr) -> Result<(), LimitExceeded> {
        admission.ip = None;
        let mut map = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            if *count == 0 {
                map.remove(&ip);
            }
            return Err(LimitExceeded::PerIp);
        }
        *count += 1;
        drop(map);
        admission.ip = Some(IpGuard {
            ip,
            per_ip: Arc::clone(&self.per_ip),
        });
        Ok(())
    }

    #[cfg(test)]
    /// Open connections from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let map = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn per_ip_cap_refuses_and_guard_releases() {
        let limits = ConnectionLimits::new(10, 2);
        let first = limits.try_admit(A).expect("first");
        let _second = limits.try_admit(A).expect("second");
        assert_eq!(limits.try_admit(A).err(), Some(LimitExceeded::PerIp));
        // Another address is unaffected.
        let _other = limits.try_admit(B).expect("other ip");
        assert_eq!(limits.open_from(A), 2);
        drop(first);
        assert_eq!(limits.open_from(A), 1);
        let _third = limits.try_admit(A).expect("place freed");
    }

    #[test]
    fn total_cap_refuses_and_permit_releases() {
        let limits = ConnectionLimits::new(2, 10);
        let a = limits.try_admit(A).expect("a");
        let _b = limits.try_admit(B).expect("b");
        assert_eq!(limits.try_admit(A).err(), Some(LimitExceeded::Total));
        // A refusal by the total cap leaves no per-IP trace.
        assert_eq!(limits.open_from(A), 1);
        drop(a);
        assert_eq!(limits.open_from(A), 0);
        let _c = limits.try_admit(A).expect("permit freed");
    }

    #[test]
    fn map_entry_is_removed_when_last_guard_drops() {
        let limits = ConnectionLimits::new(10, 1);
        drop(limits.try_admit(A).expect("a"));
        let map = limits.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(map.is_empty());
    }

    #[test]
    fn zero_per_ip_refuses_everything_without_leaking() {
        let limits = ConnectionLimits::new(10, 0);
        assert_eq!(limits.try_admit(A).err(), Some(LimitExceeded::PerIp));
        assert_eq!(limits.open_from(A), 0);
    }

    #[test]
    fn balancer_connections_take_the_clients_place() {
        let limits = ConnectionLimits::new(10, 1);
        let mut from_balancer = limits.try_admit_total().expect("total only");
        assert!(!from_balancer.has_ip());
        let _second = limits
            .try_admit_total()
            .expect("the balancer is not capped per IP");
        limits
            .admit_ip(&mut from_balancer, A)
            .expect("client place");
        assert!(from_balancer.has_ip());
        assert_eq!(limits.open_from(A), 1);
        let mut other = limits.try_admit_total().expect("total");
        assert_eq!(limits.admit_ip(&mut other, A), Err(LimitExceeded::PerIp));
        drop(from_balancer);
        assert_eq!(limits.open_from(A), 0);
    }
}
