//! `portico-gateway demo`: the gateway with the embedded
//! `examples/demo.toml` and two tiny built-in HTTP backends on loopback,
//! so routing by name can be tried with nothing but curl.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use portico_config::GatewayConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::daemon::{RunError, run_with};

/// The demo configuration.
pub const DEMO_CONFIG: &str = include_str!("../../../examples/demo.toml");
/// Where backend A listens (named by the demo configuration's routes).
pub const BACKEND_A: &str = "127.0.0.1:18081";
/// Where backend B listens.
pub const BACKEND_B: &str = "127.0.0.1:18082";
/// Largest request head a demo backend reads.
const BACKEND_HEAD_MAX: usize = 8 * 1024;
/// How long a demo backend waits for a request head.
const BACKEND_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the demo cannot run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The embedded configuration does not validate.
    #[error("the embedded demo configuration is invalid:\n{0}")]
    Config(portico_config::Diagnostics),
    /// A demo backend cannot listen.
    #[error("demo backend {label} cannot listen on {addr}: {source}")]
    Backend {
        /// `A` or `B`.
        label: &'static str,
        /// Its address.
        addr: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The gateway failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The demo configuration, with the listener moved to `listen` if given.
pub fn demo_config(listen: Option<SocketAddr>) -> Result<GatewayConfig, DemoError> {
    let mut config = portico_config::parse_gateway(DEMO_CONFIG, Path::new("examples/demo.toml"))
        .map_err(DemoError::Config)?;
    if let (Some(listen), Some(listener)) = (listen, config.listeners.first_mut()) {
        listener.bind = listen;
    }
    Ok(config)
}

/// The `Host` header of a request head, if any.
fn host_header(head: &[u8]) -> Option<String> {
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("host")
            .then(|| value.trim().to_owned())
    })
}

/// Answers one request on `stream` with a greeting naming `label` and the Host.
async fn answer(mut stream: TcpStream, label: &'static str) {
    let mut head = Vec::new();
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < BACKEND_HEAD_MAX {
            let room = BACKEND_HEAD_MAX - head.len();
            match (&mut stream).take(room as u64).read_buf(&mut head).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
        true
    };
    if !matches!(
        tokio::time::timeout(BACKEND_READ_TIMEOUT, read).await,
        Ok(true)
    ) {
        return;
    }
    let host = host_header(&head).unwrap_or_else(|| "(none)".to_owned());
    let body = format!("hello from backend {label}, you asked for Host {host}\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(BACKEND_READ_TIMEOUT, write).await;
}

/// Serves the demo backend `label` on `listener` forever.
pub async fn serve_backend(listener: TcpListener, label: &'static str) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, label));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Runs the demo until SIGTERM or SIGINT.
pub async fn run_demo(listen: Option<SocketAddr>) -> Result<(), DemoError> {
    let config = demo_config(listen)?;
    for (label, addr) in [("A", BACKEND_A), ("B", BACKEND_B)] {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| DemoError::Backend {
                label,
                addr,
                source,
            })?;
        tokio::spawn(serve_backend(listener, label));
    }
    let listen = config.listeners.first().map(|l| l.bind);
    let admin = config.admin.as_ref().map(|a| a.bind);
    run_with(config, None, move |_| {
        if let Some(listen) = listen {
            println!("portico demo: gateway on http://{listen}/ (Ctrl-C to stop). Try:");
            println!("  curl -H 'Host: a.localhost' http://{listen}/");
            println!("  curl -H 'Host: x.b.localhost' http://{listen}/");
            println!("  curl -H 'Host: anything.example' http://{listen}/");
        }
        if let Some(admin) = admin {
            println!("  open http://{admin}/ in a browser: the live console");
            println!("  curl http://{admin}/metrics");
            println!("  curl http://{admin}/status");
        }
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_host_header() {
        assert_eq!(
            host_header(b"GET / HTTP/1.1\r\nhOsT:  a.localhost \r\n\r\n").as_deref(),
            Some("a.localhost")
        );
        assert_eq!(host_header(b"GET / HTTP/1.0\r\n\r\n"), None);
    }

    #[tokio::test]
    async fn backend_greets_with_its_label_and_host() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve_backend(listener, "B"));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x.b.localhost\r\n\r\n")
            .await
            .expect("write");
        let mut got = String::new();
        client.read_to_string(&mut got).await.expect("read");
        server.abort();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(
            got.ends_with("hello from backend B, you asked for Host x.b.localhost\n"),
            "{got}"
        );
    }
}
