//! The gateway's `[admin]` endpoint: the shared console server
//! ([`portico_console::serve`]) fed by the running gateway — `/` (the live
//! page), `/status`, `/metrics`, `/healthz`.

use std::sync::{Arc, Weak};

use portico_console::{AdminSettings, AdminToken, Status, StatusSource};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::server::Gateway;

/// The running gateway as the console sees it; holds it weakly, so the
/// endpoint never keeps a stopped gateway alive.
struct GatewaySource(Weak<Gateway>);

impl StatusSource for GatewaySource {
    fn status(&self) -> Status {
        self.0.upgrade().map(|g| g.status()).unwrap_or_default()
    }

    fn metrics(&self) -> String {
        self.0
            .upgrade()
            .map(|g| g.metrics().render())
            .unwrap_or_default()
    }
}

/// Serves the admin endpoint of `gateway` on `listener` until `cancel`.
pub async fn serve(
    listener: TcpListener,
    gateway: Weak<Gateway>,
    token: Option<AdminToken>,
    cancel: CancellationToken,
) {
    portico_console::serve(
        listener,
        Arc::new(GatewaySource(gateway)),
        token,
        AdminSettings::default(),
        cancel,
    )
    .await;
}
