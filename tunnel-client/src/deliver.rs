//! One forwarded connection: read its stream header, pick the local service
//! by hostname (and the gateway port, for nameless connections), connect to
//! it (plainly, with an optional PROXY header, or through the TUN from the
//! original client address), then relay. An exit stream instead names its
//! target, dialled only if the `[[exit]]` list admits it. When the header
//! asks for an answer (a proxy client waits at the gateway), the
//! [`CONNECTED`] byte goes first once the connection is up.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use portico_config::model::{ProxyVersion, Service, SourceMode, Tun};
use portico_link::{CONNECTED, StreamError, StreamHeader, codes, read_header};
use portico_sniff::proxy;
use quinn::{RecvStream, SendStream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::Instrument;

use crate::relay::{RelayError, Transferred, relay};
use crate::services::ServiceTable;
use crate::settings::ClientSettings;
use crate::status::{ClientStatus, ServiceUse, service_key};
use crate::tun::{TunDelivery, TunError};

/// What every stream task shares.
#[derive(Clone)]
pub(crate) struct Delivery {
    /// What the `[admin]` endpoint reads.
    pub status: Arc<ClientStatus>,
    /// The tunables.
    pub settings: ClientSettings,
    /// The running services; a reload swaps them.
    pub services: Arc<ArcSwap<ServiceTable>>,
    /// TUN delivery, when `[tun]` is configured.
    pub tun: Option<Arc<TunState>>,
}

/// Running TUN delivery with the `[tun]` section it was started from.
pub(crate) struct TunState {
    /// The delivery.
    pub delivery: TunDelivery,
    /// Its addresses.
    pub config: Tun,
}

/// Why a forwarded connection could not be delivered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeliverError {
    /// No `[[service]]` takes the hostname.
    #[error("no service for this host")]
    NoService,
    /// The `[[exit]]` list does not admit the exit target.
    #[error("exit to {host}:{port} not admitted by [[exit]]")]
    ExitDenied {
        /// The target host.
        host: String,
        /// The target port.
        port: u16,
    },
    /// Resolving or connecting to an exit target failed.
    #[error("cannot reach exit target {target}: {source}")]
    Exit {
        /// `host:port`.
        target: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Reaching an exit target took longer than the connect timeout.
    #[error("reaching exit target {target} timed out")]
    ExitTimeout {
        /// `host:port`.
        target: String,
    },
    /// Connecting (or sending the PROXY header) failed.
    #[error("cannot connect to {to}: {source}")]
    Connect {
        /// The service address.
        to: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Connecting took longer than the connect timeout.
    #[error("connecting to {to} timed out")]
    ConnectTimeout {
        /// The service address.
        to: SocketAddr,
    },
    /// The service wants `source = "original"` but TUN delivery is not
    /// running (a `[tun]` section added by a reload needs a restart).
    #[error("source = \"original\" needs TUN delivery, which is not running")]
    NoTun,
    /// No `[tun]` address of the client's IP family.
    #[error("no [tun] address for {family} clients")]
    NoTunAddress {
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// TUN delivery could not open the connection.
    #[error("TUN delivery to {to}: {source}")]
    Tun {
        /// The service address.
        to: SocketAddr,
        /// What went wrong.
        source: TunError,
    },
}

/// Serves one accepted stream to its end. Never fails: every problem resets
/// the stream with a code from [`codes`] and is logged.
pub(crate) async fn serve_stream(
    delivery: Delivery,
    (mut send, mut recv): (SendStream, RecvStream),
    session: u64,
    flows: portico_link::flows::FlowDatagrams,
) {
    let header = match read_header(&mut recv, &delivery.settings.link).await {
        Ok(header) => header,
        Err(err) => {
            bad_header(&err, session);
            abort(&mut send, &mut recv, codes::STREAM_BAD_HEADER);
            return;
        }
    };
    let host = header.host.as_ref().map_or("-", |host| host.as_str());
    let span = tracing::info_span!("stream", session, client = %header.client, host);
    if header.datagrams {
        crate::flow::serve_flow(&delivery, &header, &flows, send, recv)
            .instrument(span)
            .await;
        return;
    }
    async move {
        match connect(&delivery, &header).await {
            Ok((local, service)) => {
                if header.answer && send.write_all(&[CONNECTED]).await.is_err() {
                    tracing::debug!("stream gone before its answer");
                    return;
                }
                let mut transferred = Transferred::default();
                let buffer = delivery.settings.copy_buffer;
                let result = match local {
                    Local::Tcp(stream) => {
                        relay(&mut send, &mut recv, stream, buffer, &mut transferred).await
                    }
                    Local::Tun(stream) => {
                        relay(&mut send, &mut recv, stream, buffer, &mut transferred).await
                    }
                };
                if let Some(service) = &service {
                    service.add_bytes(transferred.to_service, transferred.from_service);
                }
                finished(result, transferred, &mut send, &mut recv);
            }
            Err(err) => {
                let (code, reason) = match err {
                    DeliverError::NoService => {
                        tracing::info!("refused: {err}");
                        (codes::STREAM_UNDELIVERABLE, "no_service")
                    }
                    DeliverError::ExitDenied { .. } => {
                        tracing::info!("refused: {err}");
                        (codes::STREAM_EXIT_DENIED, "exit_denied")
                    }
                    _ => {
                        tracing::warn!("backend unreachable: {err}");
                        (codes::STREAM_UNDELIVERABLE, "unreachable")
                    }
                };
                delivery.status.count_refusal(reason);
                abort(&mut send, &mut recv, code);
            }
        }
    }
    .instrument(span)
    .await;
}

/// Logs the end of a relay; resets the stream if it failed.
fn finished(
    result: Result<(), RelayError>,
    transferred: Transferred,
    send: &mut SendStream,
    recv: &mut RecvStream,
) {
    let Transferred {
        to_service,
        from_service,
    } = transferred;
    match result {
        Ok(()) => tracing::debug!(to_service, from_service, "connection closed"),
        Err(err) => {
            tracing::debug!(to_service, from_service, error = %err, "connection aborted");
            abort(send, recv, codes::STREAM_ABORTED);
        }
    }
}

/// Logs a stream whose header failed.
fn bad_header(err: &StreamError, session: u64) {
    if err.is_session_lost() {
        tracing::debug!(session, error = %err, "session lost while reading a stream header");
    } else {
        tracing::warn!(session, error = %err, "dropping a stream with a bad header");
    }
}

/// Resets both halves of a stream with `code`.
pub(crate) fn abort(send: &mut SendStream, recv: &mut RecvStream, code: u32) {
    let code = codes::varint(code);
    // Both fail only when that half is already closed, which is fine.
    let _ = send.reset(code);
    let _ = recv.stop(code);
}

/// A connection to a local service.
enum Local {
    /// A plain TCP connection from this host.
    Tcp(TcpStream),
    /// A connection through the TUN from the original client address.
    Tun(crate::tun::TunStream),
}

/// Picks the service for `header` (or its exit target) and connects to it;
/// a service's connection is counted on it (exits are not services).
async fn connect(
    delivery: &Delivery,
    header: &StreamHeader,
) -> Result<(Local, Option<ServiceUse>), DeliverError> {
    if let (Some(port), Some(host)) = (header.exit, header.host.as_ref()) {
        return connect_exit(delivery, host, port)
            .await
            .map(|s| (Local::Tcp(s), None));
    }
    let local = connect_service(delivery, header).await?;
    Ok((local.0, Some(local.1)))
}

/// The service for `header`, connected, and its place in the counters.
async fn connect_service(
    delivery: &Delivery,
    header: &StreamHeader,
) -> Result<(Local, ServiceUse), DeliverError> {
    let service = {
        let services = delivery.services.load();
        services
            .lookup(header.host.as_ref(), header.reached.port())
            .cloned()
            .ok_or(DeliverError::NoService)?
    };
    let client = normalise(header.client);
    tracing::debug!(to = %service.to, source = ?service.source, "delivering");
    let counted = delivery.status.service_open(&service_key(&service));
    let local = match service.source {
        SourceMode::Tunnel => {
            let reached = normalise(header.reached);
            connect_plain(&service, client, reached, delivery.settings)
                .await
                .map(Local::Tcp)
        }
        SourceMode::Original => {
            let tun = delivery.tun.as_deref().ok_or(DeliverError::NoTun)?;
            let to = original_target(service.to, client.ip(), &tun.config)?;
            let connecting = tun.delivery.connect(client, to);
            match timeout(delivery.settings.connect_timeout, connecting).await {
                Ok(Ok(stream)) => Ok(Local::Tun(stream)),
                Ok(Err(source)) => Err(DeliverError::Tun { to, source }),
                Err(_) => Err(DeliverError::ConnectTimeout { to }),
            }
        }
    }?;
    Ok((local, counted))
}

/// Dials an exit target the `[[exit]]` list admits, within the connect
/// timeout (name resolution included).
async fn connect_exit(
    delivery: &Delivery,
    host: &portico_sniff::Hostname,
    port: u16,
) -> Result<TcpStream, DeliverError> {
    if !delivery.services.load().exits().admits(host, port) {
        return Err(DeliverError::ExitDenied {
            host: host.as_str().to_owned(),
            port,
        });
    }
    let target = match host.ip() {
        Some(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{}:{port}", host.as_str()),
    };
    tracing::debug!(target, "dialling exit target");
    match timeout(
        delivery.settings.connect_timeout,
        TcpStream::connect(target.as_str()),
    )
    .await
    {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(source)) => Err(DeliverError::Exit { target, source }),
        Err(_) => Err(DeliverError::ExitTimeout { target }),
    }
}

/// Connects to a `source = "tunnel"` service and sends its PROXY header
/// (`client` → `reached`), all within the connect timeout.
async fn connect_plain(
    service: &Service,
    client: SocketAddr,
    reached: SocketAddr,
    settings: ClientSettings,
) -> Result<TcpStream, DeliverError> {
    let to = service.to;
    let connecting = async {
        let mut stream = TcpStream::connect(to).await?;
        let header = match service.proxy_protocol {
            Some(ProxyVersion::V1) => Some(proxy::encode_v1(client, reached)),
            Some(ProxyVersion::V2) => Some(proxy::encode_v2(client, reached)),
            None => None,
        };
        if let Some(header) = header {
            stream.write_all(&header).await?;
        }
        Ok::<_, std::io::Error>(stream)
    };
    match timeout(settings.connect_timeout, connecting).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(DeliverError::Connect { to, source }),
        Err(_) => Err(DeliverError::ConnectTimeout { to }),
    }
}

/// The address a `source = "original"` connection from `client` goes to:
/// `to`, or the `[tun]` address of the client's family at the same port.
pub(crate) fn original_target(
    to: SocketAddr,
    client: IpAddr,
    tun: &Tun,
) -> Result<SocketAddr, DeliverError> {
    match (client, to.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Ok(to),
        (IpAddr::V4(_), IpAddr::V6(_)) => tun
            .address
            .map(|ip| SocketAddr::new(IpAddr::V4(ip), to.port()))
            .ok_or(DeliverError::NoTunAddress { family: "IPv4" }),
        (IpAddr::V6(_), IpAddr::V4(_)) => tun
            .address6
            .map(|ip| SocketAddr::new(IpAddr::V6(ip), to.port()))
            .ok_or(DeliverError::NoTunAddress { family: "IPv6" }),
    }
}

/// `addr` with an IPv4-mapped IPv6 address turned into IPv4. Addresses from
/// a stream header carry no IPv6 flow label or scope id, so none is lost.
pub(crate) fn normalise(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_config::model::RouteMode;

    fn tun(v4: bool, v6: bool) -> Tun {
        Tun {
            device: "portico0".into(),
            address: v4.then(|| "10.77.0.1".parse().unwrap()),
            address6: v6.then(|| "fd77::1".parse().unwrap()),
            routes: RouteMode::Policy,
            table: 7777,
        }
    }

    #[test]
    fn original_target_switches_family_keeping_the_port() {
        let to: SocketAddr = "10.77.0.1:443".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        assert_eq!(original_target(to, v4, &tun(true, true)).unwrap(), to);
        assert_eq!(
            original_target(to, v6, &tun(true, true)).unwrap(),
            "[fd77::1]:443".parse().unwrap()
        );
        let to6: SocketAddr = "[fd77::1]:8443".parse().unwrap();
        assert_eq!(
            original_target(to6, v4, &tun(true, true)).unwrap(),
            "10.77.0.1:8443".parse().unwrap()
        );
        assert!(matches!(
            original_target(to, v6, &tun(true, false)),
            Err(DeliverError::NoTunAddress { family: "IPv6" })
        ));
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:5000".parse().unwrap();
        assert_eq!(normalise(mapped), "192.0.2.1:5000".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
        assert_eq!(normalise(v6), v6);
    }
}
