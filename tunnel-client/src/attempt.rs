//! One connection attempt: resolve the gateway's `host:port`, build a QUIC
//! endpoint trusting the configured CA, and run the session handshake.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use portico_config::TunnelConfig;
use portico_link::{
    ConnectError, EndpointError, Fingerprint, HEADER_VERSION, Hello, RefuseReason, Trust,
    client_endpoint, connect_session,
};
use tokio::time::timeout;

use crate::link::Link;
use crate::settings::ClientSettings;

/// What a session is set up from: a change of any of it means a new
/// session. (The services and `[tun]` are not part of it.)
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The gateway's `host:port`.
    pub gateway: String,
    /// The tunnel name.
    pub name: String,
    /// The token.
    pub token: Vec<u8>,
    /// The CA file for the gateway's certificate (`None`: system roots).
    pub ca: Option<PathBuf>,
    /// The pinned SHA-256 of the gateway's certificate (`gateway_fingerprint`).
    pub fingerprint: Option<[u8; 32]>,
}

impl Identity {
    /// The identity `config` describes.
    pub(crate) fn of(config: &TunnelConfig) -> Self {
        Identity {
            gateway: config.gateway.clone(),
            name: config.name.clone(),
            token: config.token.expose().to_vec(),
            ca: config.ca.clone(),
            fingerprint: config.gateway_fingerprint,
        }
    }
}

/// Why an attempt to establish a session failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// `gateway` is not `host:port`.
    #[error("gateway {gateway:?} is not host:port")]
    BadGateway {
        /// The configured value.
        gateway: String,
    },
    /// The gateway's name could not be resolved.
    #[error("cannot resolve {gateway}: {source}")]
    Resolve {
        /// The configured value.
        gateway: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Resolving took longer than the resolve timeout.
    #[error("resolving {gateway} timed out after {after:?}")]
    ResolveTimeout {
        /// The configured value.
        gateway: String,
        /// The timeout.
        after: Duration,
    },
    /// The name resolved to no address.
    #[error("{gateway} has no address")]
    NoAddress {
        /// The configured value.
        gateway: String,
    },
    /// The QUIC endpoint could not be set up (CA file, UDP socket).
    #[error("{0}")]
    Endpoint(#[from] EndpointError),
    /// The handshake with the gateway failed or was refused.
    #[error("{addr}: {source}")]
    Connect {
        /// The gateway address tried.
        addr: SocketAddr,
        /// What went wrong.
        source: ConnectError,
    },
}

impl AttemptError {
    /// The gateway's reason, when it refused the session.
    pub fn refusal(&self) -> Option<RefuseReason> {
        match self {
            AttemptError::Connect {
                source: ConnectError::Refused(reason),
                ..
            } => Some(*reason),
            _ => None,
        }
    }

    /// Whether this client did not accept the gateway's certificate.
    pub fn certificate_rejected(&self) -> bool {
        matches!(self, AttemptError::Connect { source, .. } if source.is_certificate_rejected())
    }
}

/// What to do when the gateway's certificate is not accepted, for the log
/// line; `ca` is the configured CA file (`None`: the system's roots).
pub(crate) fn certificate_advice(ca: Option<&Path>, fingerprint: Option<&[u8; 32]>) -> String {
    let compare = "compare `openssl x509 -noout -fingerprint -sha256 -in FILE` of it \
                   and of the gateway's `[tunnels]` cert";
    if let Some(pin) = fingerprint {
        return format!(
            "`gateway_fingerprint` ({}) must be the SHA-256 of the certificate the gateway \
             presents; the gateway logs its fingerprint at start (`tunnel link certificate`), \
             and `portico-gateway tunnel add` prints it",
            Fingerprint(*pin)
        );
    }
    match ca {
        Some(path) => format!(
            "`ca` ({}) must hold the certificate the gateway presents (its `[tunnels]` cert) \
             or the CA that issued it; {compare}",
            path.display()
        ),
        None => format!(
            "the system's trusted roots do not accept it; set `ca` to the certificate the \
             gateway presents (its `[tunnels]` cert) or the CA that issued it; {compare}"
        ),
    }
}

/// The host part of `host:port` (without the brackets of an IPv6 literal),
/// used as the TLS server name.
pub(crate) fn server_name(gateway: &str) -> Option<&str> {
    let (host, port) = gateway.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None => host,
    };
    (!host.is_empty()).then_some(host)
}

/// Attempt number `attempt` to establish a session; successive attempts
/// rotate through the gateway's addresses.
pub(crate) async fn connect(
    identity: &Identity,
    settings: &ClientSettings,
    attempt: usize,
) -> Result<Link, AttemptError> {
    let gateway = identity.gateway.as_str();
    let name = server_name(gateway).ok_or_else(|| AttemptError::BadGateway {
        gateway: gateway.to_string(),
    })?;
    let addrs: Vec<SocketAddr> =
        timeout(settings.resolve_timeout, tokio::net::lookup_host(gateway))
            .await
            .map_err(|_| AttemptError::ResolveTimeout {
                gateway: gateway.to_string(),
                after: settings.resolve_timeout,
            })?
            .map_err(|source| AttemptError::Resolve {
                gateway: gateway.to_string(),
                source,
            })?
            .collect();
    let addr = attempt
        .checked_rem(addrs.len())
        .and_then(|index| addrs.get(index))
        .copied()
        .ok_or_else(|| AttemptError::NoAddress {
            gateway: gateway.to_string(),
        })?;
    let bind = match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let trust = match (&identity.ca, identity.fingerprint) {
        (_, Some(pin)) => Trust::Fingerprint(Fingerprint(pin)),
        (Some(path), None) => Trust::CaFile(path.clone()),
        (None, None) => Trust::SystemRoots,
    };
    let endpoint = client_endpoint(bind, &trust, &settings.link)?;
    let hello = Hello {
        version: HEADER_VERSION,
        name: identity.name.clone(),
        token: identity.token.clone(),
    };
    match connect_session(&endpoint, addr, name, hello, &settings.link).await {
        Ok(session) => Ok(Link::new(session, endpoint, addr)),
        Err(source) => Err(AttemptError::Connect { addr, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_of_gateway_addresses() {
        assert_eq!(server_name("gw.example.org:7443"), Some("gw.example.org"));
        assert_eq!(server_name("[2001:db8::10]:7443"), Some("2001:db8::10"));
        assert_eq!(server_name("192.0.2.1:1"), Some("192.0.2.1"));
        assert_eq!(server_name("gw.example.org"), None);
        assert_eq!(server_name("gw.example.org:x"), None);
        assert_eq!(server_name(":7443"), None);
        assert_eq!(server_name("[::1:7443"), None);
    }
}
