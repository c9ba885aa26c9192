//! Tunnel clients that die without closing their connection: a UDP relay
//! between the in-test client and the gateway goes silent on demand, as a
//! killed client or a cut link would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::UdpSocket;

use crate::pipeline::exchange;
use crate::tunnel_fixtures::{
    REQUEST, RESPONSE, TOKEN, answer_streams, connect_home, dial, is_502, pki, tunnel_gateway,
    wait_for_count, wait_for_sessions,
};

/// A UDP relay for one client; `silent` drops everything both ways.
struct Relay {
    addr: SocketAddr,
    silent: Arc<AtomicBool>,
}

/// Starts a relay in front of `target`.
async fn relay(target: SocketAddr) -> Relay {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind front"));
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind back"));
    back.connect(target).await.expect("connect back");
    let addr = front.local_addr().expect("front addr");
    let silent = Arc::new(AtomicBool::new(false));
    let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let (f, b, s, c) = (
        Arc::clone(&front),
        Arc::clone(&back),
        Arc::clone(&silent),
        Arc::clone(&client),
    );
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = f.recv_from(&mut buf).await {
            *c.lock().unwrap_or_else(PoisonError::into_inner) = Some(from);
            if !s.load(Ordering::SeqCst)
                && let Some(datagram) = buf.get(..n)
            {
                let _ = b.send(datagram).await;
            }
        }
    });
    let s = Arc::clone(&silent);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = back.recv(&mut buf).await {
            let to = *client.lock().unwrap_or_else(PoisonError::into_inner);
            if !s.load(Ordering::SeqCst)
                && let (Some(to), Some(datagram)) = (to, buf.get(..n))
            {
                let _ = front.send_to(datagram, to).await;
            }
        }
    });
    Relay { addr, silent }
}

#[tokio::test]
async fn a_restarted_client_gets_the_streams_and_the_dead_session_goes() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let relay = relay(link).await;
    let (_old_endpoint, old) = connect_home(&pki, &gateway, relay.addr).await;
    let old_answered = answer_streams(old);
    // The old client dies without a word; a new one connects.
    relay.silent.store(true, Ordering::SeqCst);
    let (_endpoint, new) = dial(&pki, link, "home", TOKEN).await;
    let answered = answer_streams(new.expect("session accepted"));
    // Both registered, the old one avoided while its probe runs.
    wait_for_count(&gateway, 2, 1).await;
    for _ in 0..4 {
        assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    }
    wait_for_sessions(&gateway, 1).await;
    assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    answered.abort();
    old_answered.abort();
}

#[tokio::test]
async fn a_silently_dead_session_answers_502_once_and_is_dropped() {
    let pki = pki();
    let (gateway, addr, link) = tunnel_gateway(&pki).await;
    let relay = relay(link).await;
    let (_dead_endpoint, dead) = connect_home(&pki, &gateway, relay.addr).await;
    let (_endpoint, live) = connect_home(&pki, &gateway, link).await;
    let dead_answered = answer_streams(dead);
    let answered = answer_streams(live);
    // Registering the second session probed the first, which was alive.
    assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    relay.silent.store(true, Ordering::SeqCst);
    // Round-robin sends one of the next two to the dead session: that one
    // is answered 502 (not left hanging) and the session is dropped.
    let got: Vec<Vec<u8>> = vec![exchange(addr, REQUEST).await, exchange(addr, REQUEST).await];
    assert_eq!(got.iter().filter(|g| is_502(g)).count(), 1);
    assert_eq!(got.iter().filter(|g| g.as_slice() == RESPONSE).count(), 1);
    wait_for_sessions(&gateway, 1).await;
    assert_eq!(exchange(addr, REQUEST).await, RESPONSE);
    answered.abort();
    dead_answered.abort();
}
