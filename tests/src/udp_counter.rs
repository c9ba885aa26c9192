//! A UDP backend that records every datagram that reaches it, with its
//! source, and answers none: what a test counts to prove that nothing
//! reached a backend that should not have.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// How often the receiving thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// A datagram that reached the backend, with its source.
pub type Received = (SocketAddr, Vec<u8>);

/// The recording backend; its thread stops on drop.
#[derive(Debug)]
pub struct UdpCounter {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl UdpCounter {
    /// Binds `ip:0` and records from then on.
    pub fn start(ip: IpAddr) -> UdpCounter {
        let socket = UdpSocket::bind((ip, 0)).expect("bind UDP counter");
        socket
            .set_read_timeout(Some(STOP_POLL))
            .expect("read timeout");
        let addr = socket.local_addr().expect("local_addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (Arc::clone(&received), Arc::clone(&stop));
        thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while !halt.load(Ordering::SeqCst) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((from, buf[..n].to_vec()));
                }
            }
        });
        UdpCounter {
            addr,
            received,
            stop,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every datagram so far with its source, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The distinct sources so far.
    pub fn sources(&self) -> Vec<SocketAddr> {
        let mut sources: Vec<SocketAddr> = self.received().into_iter().map(|(s, _)| s).collect();
        sources.sort_unstable();
        sources.dedup();
        sources
    }
}

impl Drop for UdpCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
