//! Reaching a backend: a route's `host[:port]` resolved at connect time and
//! each address tried in turn, each under the listener's `connect_timeout`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use portico_config::model::Backend;
use tokio::net::TcpStream;

/// Why no connection to a backend was made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// Name resolution failed.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// Name resolution did not finish in time.
    #[error("resolving {host} timed out")]
    ResolveTimeout {
        /// The name.
        host: String,
    },
    /// The name resolved to no address.
    #[error("{host} has no address")]
    NoAddress {
        /// The name.
        host: String,
    },
    /// Every address failed; this is the last failure.
    #[error("connecting to {addr} failed: {source}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Why it failed.
        source: io::Error,
    },
    /// Connecting to the last address tried timed out.
    #[error("connecting to {addr} timed out")]
    Timeout {
        /// The last address tried.
        addr: SocketAddr,
    },
}

impl ConnectError {
    /// Whether the backend actively refused the connection (nothing
    /// listens at the address).
    pub(crate) fn is_refused(&self) -> bool {
        matches!(self, ConnectError::Connect { source, .. }
            if source.kind() == io::ErrorKind::ConnectionRefused)
    }
}

/// The addresses `backend` names, with `default_port` when it has no port.
pub(crate) async fn resolve(
    backend: &Backend,
    default_port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let port = backend.port.unwrap_or(default_port);
    if let Ok(ip) = backend.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host = backend.host.clone();
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, lookup)
        .await
        .map_err(|_| ConnectError::ResolveTimeout { host: host.clone() })?
        .map_err(|source| ConnectError::Resolve {
            host: host.clone(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::NoAddress { host });
    }
    Ok(addrs)
}

/// Connects to `backend`, trying each resolved address in turn, each under
/// `timeout`; sets `TCP_NODELAY` on the connection.
pub(crate) async fn connect(
    backend: &Backend,
    default_port: u16,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let addrs = resolve(backend, default_port, timeout).await?;
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Nagle only delays the small writes a byte pipe passes on.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(source)) => last = Some(ConnectError::Connect { addr, source }),
            Err(_) => last = Some(ConnectError::Timeout { addr }),
        }
    }
    Err(last.unwrap_or(ConnectError::NoAddress {
        host: backend.host.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn connects_to_ip_literal_and_default_port() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let backend = Backend {
            host: "127.0.0.1".into(),
            port: None,
        };
        let stream = connect(&backend, port, Duration::from_secs(5))
            .await
            .expect("connect");
        assert_eq!(stream.peer_addr().expect("peer").port(), port);
        assert!(stream.nodelay().expect("nodelay"));
    }

    #[tokio::test]
    async fn resolves_names() {
        let backend = Backend {
            host: "localhost".into(),
            port: Some(7),
        };
        let addrs = resolve(&backend, 1, Duration::from_secs(5))
            .await
            .expect("localhost resolves");
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 7),
            "{addrs:?}"
        );
    }

    #[tokio::test]
    async fn refused_port_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let backend = Backend {
            host: "127.0.0.1".into(),
            port: Some(port),
        };
        let err = connect(&backend, 1, Duration::from_secs(5))
            .await
            .expect_err("refused");
        assert!(matches!(err, ConnectError::Connect { .. }), "{err:?}");
    }
}
