//! The tunnel client's optional `[admin]` endpoint: the shared console
//! server ([`portico_console::serve`]) fed by [`ClientStatus`] and the
//! running configuration — `/` (the live page), `/status`, `/metrics`,
//! `/healthz`.

use std::fmt::Write as _;
use std::sync::Arc;

use portico_config::TunnelConfig;
use portico_config::model::SourceMode;
use portico_console::model::{
    RefusalCount, RouteStatus, SessionStatus, Status, Totals, TunnelStatus,
};
use portico_console::{AdminSettings, AdminToken, StatusSource};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::status::{ClientStatus, service_key, unix_now};

/// The client as the console sees it.
struct ClientSource {
    status: Arc<ClientStatus>,
    config: watch::Receiver<Arc<TunnelConfig>>,
}

/// The status document of a client with `config`, as of now.
pub fn document(status: &ClientStatus, config: &TunnelConfig) -> Status {
    let session = status.session();
    let open = status.open_streams();
    let sessions: Vec<SessionStatus> = session
        .iter()
        .map(|s| SessionStatus {
            remote: s.gateway.to_string(),
            transport: "quic".to_owned(),
            since: s.since,
            open_streams: open,
            bytes_to_client: s.bytes_in,
            bytes_to_gateway: s.bytes_out,
        })
        .collect();
    let routes: Vec<RouteStatus> = config
        .services
        .iter()
        .map(|s| {
            let figures = status.service_figures(&service_key(s));
            RouteStatus {
                hosts: s.hosts.iter().map(ToString::to_string).collect(),
                target: match (s.source, s.proxy_protocol) {
                    (SourceMode::Original, _) => format!("{} (original source)", s.to),
                    (SourceMode::Tunnel, Some(_)) => format!("{} (PROXY header)", s.to),
                    (SourceMode::Tunnel, None) => s.to.to_string(),
                },
                connections: figures.connections,
                active: figures.active,
                bytes_to_backend: figures.to_service,
                bytes_to_client: figures.from_service,
            }
        })
        .collect();
    Status {
        program: "portico-tunnel".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: status.uptime_seconds(),
        now: unix_now(),
        totals: Totals {
            connections: status.streams(),
            active: i64::try_from(open).unwrap_or(i64::MAX),
            // Payload delivered to and from the services (the session's own
            // figures are UDP bytes on the wire, QUIC's overhead included).
            bytes: routes.iter().fold(0u64, |sum, r| {
                sum.saturating_add(r.bytes_to_backend)
                    .saturating_add(r.bytes_to_client)
            }),
        },
        routes,
        tunnels: vec![TunnelStatus {
            name: config.name.clone(),
            sessions,
        }],
        refusals: status
            .refusals()
            .into_iter()
            .map(|(reason, total)| RefusalCount {
                reason: reason.to_owned(),
                total,
                recent: total,
            })
            .collect(),
        refusal_window_seconds: status.uptime_seconds(),
        ..Status::default()
    }
}

/// The Prometheus text of the tunnel client.
fn metrics(status: &ClientStatus) -> String {
    let session = status.session();
    let mut out = String::new();
    out.push_str(
        "# HELP portico_tunnel_client_session_up Whether a session with the gateway is up.\n",
    );
    out.push_str("# TYPE portico_tunnel_client_session_up gauge\n");
    let _ = writeln!(
        out,
        "portico_tunnel_client_session_up {}",
        u8::from(session.is_some())
    );
    out.push_str("# HELP portico_tunnel_client_streams_total Forwarded connections received from the gateway.\n");
    out.push_str("# TYPE portico_tunnel_client_streams_total counter\n");
    let _ = writeln!(
        out,
        "portico_tunnel_client_streams_total {}",
        status.streams()
    );
    out.push_str(
        "# HELP portico_tunnel_client_open_streams Forwarded connections being delivered.\n",
    );
    out.push_str("# TYPE portico_tunnel_client_open_streams gauge\n");
    let _ = writeln!(
        out,
        "portico_tunnel_client_open_streams {}",
        status.open_streams()
    );
    out.push_str(
        "# HELP portico_tunnel_client_refusals_total Forwarded connections refused, by reason.\n",
    );
    out.push_str("# TYPE portico_tunnel_client_refusals_total counter\n");
    for (reason, n) in status.refusals() {
        let _ = writeln!(
            out,
            "portico_tunnel_client_refusals_total{{reason=\"{reason}\"}} {n}"
        );
    }
    out.push_str("# HELP portico_tunnel_client_session_bytes UDP payload bytes of the current session, by direction.\n");
    out.push_str("# TYPE portico_tunnel_client_session_bytes gauge\n");
    let (bytes_in, bytes_out) = session.map_or((0, 0), |s| (s.bytes_in, s.bytes_out));
    let _ = writeln!(
        out,
        "portico_tunnel_client_session_bytes{{direction=\"in\"}} {bytes_in}"
    );
    let _ = writeln!(
        out,
        "portico_tunnel_client_session_bytes{{direction=\"out\"}} {bytes_out}"
    );
    out
}

impl StatusSource for ClientSource {
    fn status(&self) -> Status {
        document(&self.status, &self.config.borrow())
    }

    fn metrics(&self) -> String {
        metrics(&self.status)
    }
}

/// Serves the admin endpoint on `listener` until `cancel`.
pub async fn serve(
    listener: TcpListener,
    status: Arc<ClientStatus>,
    config: watch::Receiver<Arc<TunnelConfig>>,
    token: Option<AdminToken>,
    cancel: CancellationToken,
) {
    let source = ClientSource { status, config };
    portico_console::serve(
        listener,
        Arc::new(source),
        token,
        AdminSettings::default(),
        cancel,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_without_session_lists_its_services_and_no_session() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("t.token");
        std::fs::write(&token, "0123456789abcdef0123\n").expect("write");
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        let path = dir.path().join("tunnel.toml");
        std::fs::write(
            &path,
            "gateway = \"gw.test:7443\"\nname = \"home\"\ntoken_file = \"t.token\"\n\n\
             [[service]]\nhosts = [\"app.test\"]\nto = \"127.0.0.1:8080\"\nproxy_protocol = \"v2\"\n",
        )
        .expect("write");
        let config = portico_config::load_tunnel(&path).expect("valid");
        let doc = document(&ClientStatus::default(), &config);
        assert_eq!(doc.program, "portico-tunnel");
        assert_eq!(doc.routes[0].hosts, ["app.test"]);
        assert_eq!(doc.routes[0].target, "127.0.0.1:8080 (PROXY header)");
        assert_eq!(doc.tunnels[0].name, "home");
        assert!(doc.tunnels[0].sessions.is_empty());
        assert!(metrics(&ClientStatus::default()).contains("portico_tunnel_client_session_up 0\n"));
    }
}
