//! Small Rust backends on 127.0.0.1:0 that count what reaches them: an echo
//! server (optionally greeting with a banner) and an HTTP responder that
//! records request heads.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::WAIT;

/// Largest request head the HTTP responder reads.
const HEAD_MAX: usize = 64 * 1024;

/// The accept loop shared by both backends; stops on drop.
#[derive(Debug)]
struct Acceptor {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Acceptor {
    fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Acceptor {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind backend");
        let addr = listener.local_addr().expect("local_addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let (count, halt) = (Arc::clone(&accepted), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(WAIT));
                let _ = stream.set_write_timeout(Some(WAIT));
                let serve = Arc::clone(&serve);
                thread::spawn(move || serve(stream));
            }
        });
        Acceptor {
            addr,
            accepted,
            stop,
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, WAIT);
    }
}

/// Echoes every byte back until the client closes; with a banner, first
/// sends `banner\n`.
#[derive(Debug)]
pub struct EchoServer {
    acceptor: Acceptor,
}

impl EchoServer {
    /// A pure echo server.
    pub fn start() -> EchoServer {
        Self::with_banner("")
    }

    /// An echo server that greets each connection with `banner` and a newline
    /// (no greeting when `banner` is empty).
    pub fn with_banner(banner: &str) -> EchoServer {
        let greeting = if banner.is_empty() {
            Vec::new()
        } else {
            format!("{banner}\n").into_bytes()
        };
        let acceptor = Acceptor::start(move |mut stream| {
            if stream.write_all(&greeting).is_err() {
                return;
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = stream.shutdown(std::net::Shutdown::Write);
        });
        EchoServer { acceptor }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.acceptor.accepted.load(Ordering::SeqCst)
    }
}

/// Answers every HTTP request with `200 OK` and the body
/// `<label> <request line>\n`, and records each request head.
#[derive(Debug)]
pub struct HttpResponder {
    acceptor: Acceptor,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpResponder {
    /// Starts a responder whose answers carry `label`.
    pub fn start(label: &str) -> HttpResponder {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let label = label.to_owned();
        let acceptor = Acceptor::start(move |mut stream| {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_MAX {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let line = head.lines().next().unwrap_or_default().to_owned();
            seen.lock().expect("requests lock").push(head);
            let body = format!("{label} {line}\n");
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        });
        HttpResponder { acceptor, requests }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.acceptor.accepted.load(Ordering::SeqCst)
    }

    /// The request heads received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }
}
