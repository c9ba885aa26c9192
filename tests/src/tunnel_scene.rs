//! The whole tunnel scene of the end-to-end tests, in a [`Topology`]:
//! `portico-gateway` in `gw` (listeners on the public addresses, the
//! `[tunnels]` endpoint on the backend link, admin on its own loopback),
//! `portico-tunnel` and nginx in `backend`, clients (curl, nc) in `client`.
//!
//! Services behind the tunnel client `home`: `app.test` (nginx on the TUN
//! addresses, port [`APP_PORT`], source original), `tls.test` (nginx TLS,
//! [`TLS_PORT`], original), `plain.test` (nginx on 127.0.0.1:[`PLAIN_PORT`],
//! source tunnel), and two whose port has no listener: `down.test`
//! (original) and `downplain.test` (tunnel).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::certs::TestCa;
use crate::gateway::Gateway;
use crate::netns::{self, CLIENT_V4, GW_LINK_V4, GW_PUBLIC_V4, GW_PUBLIC_V6, Netns, Topology};
use crate::nginx::{Nginx, NginxServer};
use crate::process::Output;
use crate::tools::require;
use crate::tunnel::{
    Delivery, ServiceSpec, TunnelClient, client_config, gateway_tunnels, session_count,
    tunnel_listed, tunnel_route, write_token,
};
use crate::{WAIT, poll_until};

/// The tunnel client's name.
pub const TUNNEL_NAME: &str = "home";
/// Its token.
pub const TOKEN: &str = "e2e-token-5f1c0a9b7d3e4f21";
/// UDP port of the gateway's `[tunnels]` endpoint.
pub const LINK_PORT: u16 = 7443;
/// Admin port of the gateway (on 127.0.0.1 in `gw`).
pub const ADMIN_PORT: u16 = 9180;
/// nginx HTTP port on the TUN service addresses.
pub const APP_PORT: u16 = 8080;
/// nginx TLS port on the IPv4 TUN service address.
pub const TLS_PORT: u16 = 8443;
/// nginx HTTP port on 127.0.0.1 (source tunnel).
pub const PLAIN_PORT: u16 = 8081;
/// A port nothing listens on.
pub const DOWN_PORT: u16 = 8099;
/// The IPv4 service address of `[tun]`.
pub const TUN_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The IPv6 service address of `[tun]`.
pub const TUN_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
/// Bound on the first session after start.
pub const SESSION_WAIT: Duration = Duration::from_secs(20);
/// Bound on a reconnect: the link's idle timeout (60 s) to notice the loss
/// plus the client's back-off cap (30 s), with room.
pub const RECONNECT_WAIT: Duration = Duration::from_secs(150);

/// Client-side source ports handed out by [`Scene::next_port`].
static NEXT_PORT: AtomicU16 = AtomicU16::new(41000);

/// Everything running in one topology. Fields drop in order: processes
/// first, the namespaces last.
#[derive(Debug)]
pub struct Scene {
    tunnel: Option<TunnelClient>,
    gateway: Option<Gateway>,
    /// nginx in `backend`.
    pub nginx: Nginx,
    /// CA of the link certificate and of `tls.test`.
    pub ca: TestCa,
    gateway_toml: String,
    tunnel_toml: String,
    dir: TempDir,
    /// The three namespaces.
    pub topology: Topology,
}

impl Scene {
    /// Builds the topology and starts nginx, the gateway and the tunnel
    /// client with `delivery`; returns once the session is up.
    pub fn start(delivery: Delivery) -> Scene {
        let topology = Topology::create();
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::create_with_ips(
            &dir.path().join("certs"),
            &["gw.test", "tls.test"],
            &[IpAddr::V4(GW_LINK_V4)],
        );
        let token = write_token(dir.path(), TUNNEL_NAME, TOKEN);
        let nginx = start_nginx(&topology.backend, &ca, delivery, dir.path());
        let gateway_toml = gateway_config(&ca, &token);
        let gateway = Gateway::start_in(&topology.gw, &gateway_toml);
        let tunnel_toml = client_config(
            link_addr(),
            TUNNEL_NAME,
            &token,
            &ca.ca(),
            delivery,
            &services(delivery),
        );
        let tunnel = TunnelClient::start_in(&topology.backend, &tunnel_toml);
        let mut scene = Scene {
            tunnel: Some(tunnel),
            gateway: Some(gateway),
            nginx,
            ca,
            gateway_toml,
            tunnel_toml,
            dir,
            topology,
        };
        scene.wait_ready(1, SESSION_WAIT);
        scene
    }

    /// The tunnel client.
    pub fn tunnel(&mut self) -> &mut TunnelClient {
        self.tunnel.as_mut().expect("tunnel client present")
    }

    /// The gateway.
    pub fn gateway(&mut self) -> &mut Gateway {
        self.gateway.as_mut().expect("gateway present")
    }

    /// The tunnel client's configuration.
    pub fn tunnel_toml(&self) -> &str {
        &self.tunnel_toml
    }

    /// A scratch directory that lives as long as the scene.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until the client has established `sessions` sessions in all
    /// and the gateway's `/status` lists the tunnel, within `timeout`.
    pub fn wait_ready(&mut self, sessions: usize, timeout: Duration) {
        self.tunnel().wait_sessions(sessions, timeout);
        let listed = poll_until(timeout, || {
            let status = self.status();
            tunnel_listed(&status, TUNNEL_NAME).then_some(())
        });
        assert!(
            listed.is_some(),
            "the gateway's /status does not list tunnel {TUNNEL_NAME} within {timeout:?}: {}\ngateway log:\n{}",
            self.status(),
            self.gateway().log()
        );
    }

    /// Waits up to `timeout` until `/status` lists exactly `count` sessions
    /// of the tunnel (e.g. the gateway has noticed that a killed client's
    /// session is gone); panics with the document otherwise.
    pub fn wait_gateway_sessions(&self, count: usize, timeout: Duration) {
        let ok = poll_until(timeout, || {
            (session_count(&self.status(), TUNNEL_NAME) == count).then_some(())
        });
        assert!(
            ok.is_some(),
            "/status does not list {count} sessions of {TUNNEL_NAME} within {timeout:?}: {}",
            self.status()
        );
    }

    /// The gateway's admin `/status` document (empty if unreachable).
    pub fn status(&self) -> String {
        let url = format!("http://127.0.0.1:{ADMIN_PORT}/status");
        let out = self.topology.gw.run(
            "curl",
            &["-sS", "-m", "5", &url],
            WAIT + Duration::from_secs(1),
        );
        out.stdout
    }

    /// SIGKILLs the tunnel client (it gets no chance to clean up).
    pub fn kill_tunnel(&mut self) {
        if let Some(mut old) = self.tunnel.take() {
            old.kill9();
        }
    }

    /// Starts the tunnel client again with its configuration (after
    /// [`Scene::kill_tunnel`]).
    pub fn restart_tunnel(&mut self) {
        self.kill_tunnel();
        self.tunnel = Some(TunnelClient::start_in(
            &self.topology.backend,
            &self.tunnel_toml,
        ));
    }

    /// SIGKILLs the gateway and starts it again with the same configuration.
    pub fn crash_and_restart_gateway(&mut self) {
        if let Some(mut old) = self.gateway.take() {
            old.signal(Signal::SIGKILL);
            assert!(old.wait_exit(WAIT).is_some(), "gateway survived SIGKILL");
        }
        self.gateway = Some(Gateway::start_in(&self.topology.gw, &self.gateway_toml));
    }

    /// A source port for the next client connection, unique in this process.
    pub fn next_port() -> u16 {
        NEXT_PORT.fetch_add(1, Ordering::SeqCst)
    }

    /// curl in `client` with `args` (bounded); stdout ends with
    /// `\nstatus=<code>`.
    pub fn curl(&self, args: &[&str]) -> Output {
        let mut all = vec!["-sS", "-m", "10", "-w", "\\nstatus=%{http_code}"];
        all.extend_from_slice(args);
        self.curl_raw(&all, WAIT + Duration::from_secs(2))
    }

    /// curl in `client` with exactly `args`, killed after `timeout`.
    pub fn curl_raw(&self, args: &[&str], timeout: Duration) -> Output {
        require("curl", "curl");
        self.topology.client.run("curl", args, timeout)
    }

    /// `GET http://host/` from the client host's `v6` or IPv4 address and
    /// source port `port`, through the gateway's public address.
    pub fn http_get(&self, host: &str, v6: bool, port: u16) -> Output {
        let gw = if v6 {
            format!("[{GW_PUBLIC_V6}]")
        } else {
            GW_PUBLIC_V4.to_string()
        };
        let resolve = format!("{host}:80:{gw}");
        let url = format!("http://{host}/");
        let port = port.to_string();
        let family = if v6 { "-6" } else { "-4" };
        self.curl(&[family, "--local-port", &port, "--resolve", &resolve, &url])
    }

    /// `GET https://host/` (TLS passed through to the backend) from the
    /// client host's IPv4 address and source port `port`.
    pub fn https_get(&self, host: &str, port: u16) -> Output {
        let resolve = format!("{host}:443:{GW_PUBLIC_V4}");
        let url = format!("https://{host}:443/");
        let port = port.to_string();
        let ca = self.ca.ca();
        let ca = ca.to_str().expect("utf-8 path");
        self.curl(&[
            "--local-port",
            &port,
            "--cacert",
            ca,
            "--resolve",
            &resolve,
            &url,
        ])
    }

    /// An HTTP/1.1 keep-alive request from the client host's IPv4 address
    /// and source `port` to `host`, answered `200`; the connection stays
    /// open (nginx keeps it for its keep-alive time) until the returned
    /// stream is dropped.
    pub fn hold_connection(&self, host: &str, port: u16) -> TcpStream {
        let from = SocketAddr::from((CLIENT_V4, port));
        let to = SocketAddr::from((GW_PUBLIC_V4, 80));
        let mut stream = self
            .topology
            .client
            .connect(from, to, WAIT)
            .unwrap_or_else(|e| panic!("connect {from} → {to}: {e}"));
        stream
            .write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .expect("send request");
        let mut head = [0u8; 4096];
        let n = stream.read(&mut head).unwrap_or(0);
        let answer = String::from_utf8_lossy(head.get(..n).unwrap_or_default()).into_owned();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "held connection to {host} got {answer:?}"
        );
        stream
    }
}

/// The HTTP status a [`Scene::curl`] output ends with (0: no answer).
pub fn status_code(out: &Output) -> u16 {
    out.stdout
        .rsplit("status=")
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The gateway's `[tunnels]` endpoint.
pub fn link_addr() -> SocketAddr {
    SocketAddr::from((GW_LINK_V4, LINK_PORT))
}

fn gateway_config(ca: &TestCa, token: &Path) -> String {
    let mut toml = String::new();
    for ip in [IpAddr::V4(GW_PUBLIC_V4), IpAddr::V6(GW_PUBLIC_V6)] {
        for port in [80, 443] {
            toml.push_str(&format!(
                "[[listener]]\nbind = \"{}\"\n\n",
                SocketAddr::new(ip, port)
            ));
        }
    }
    toml.push_str(&tunnel_route(
        &[
            "app.test",
            "tls.test",
            "plain.test",
            "down.test",
            "downplain.test",
        ],
        TUNNEL_NAME,
    ));
    toml.push_str(&gateway_tunnels(
        link_addr(),
        &ca.cert("gw.test"),
        &ca.key("gw.test"),
        &[(TUNNEL_NAME, token)],
    ));
    toml.push_str(&format!(
        "[admin]\nbind = \"127.0.0.1:{ADMIN_PORT}\"\n\n[limits]\nshutdown_grace = \"1s\"\n"
    ));
    toml
}

fn services(delivery: Delivery) -> Vec<ServiceSpec> {
    let original = delivery != Delivery::Plain;
    let tun = |port| SocketAddr::from((TUN_V4, port));
    let local = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // Plain delivery reaches the same nginx servers on 127.0.0.1.
    let app = if original {
        tun(APP_PORT)
    } else {
        local(APP_PORT)
    };
    let tls = if original {
        tun(TLS_PORT)
    } else {
        local(TLS_PORT)
    };
    let down = if original {
        tun(DOWN_PORT)
    } else {
        local(DOWN_PORT)
    };
    vec![
        ServiceSpec::new("app.test", app, original),
        ServiceSpec::new("tls.test", tls, original),
        ServiceSpec::new("plain.test", local(PLAIN_PORT), false),
        ServiceSpec::new("down.test", down, original),
        ServiceSpec::new("downplain.test", local(DOWN_PORT), false),
    ]
}

/// nginx in `backend` on the TUN addresses (put on `lo` first, as an
/// operator would, so nginx can bind before the tunnel client starts) and
/// on 127.0.0.1; `dir/files` is served under `/files/`.
fn start_nginx(backend: &Netns, ca: &TestCa, delivery: Delivery, dir: &Path) -> Nginx {
    netns::add_loopback_address(backend, IpAddr::V4(TUN_V4));
    netns::add_loopback_address(backend, IpAddr::V6(TUN_V6));
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("files dir");
    let mut app = NginxServer::http("app", SocketAddr::from((TUN_V4, APP_PORT)))
        .also_on(SocketAddr::from((TUN_V6, APP_PORT)))
        .with_files(&files);
    let mut tls = NginxServer::https("tls", SocketAddr::from((TUN_V4, TLS_PORT)), "tls.test");
    if delivery == Delivery::Plain {
        app = app.also_on(SocketAddr::from((Ipv4Addr::LOCALHOST, APP_PORT)));
        tls = tls.also_on(SocketAddr::from((Ipv4Addr::LOCALHOST, TLS_PORT)));
    }
    let plain = NginxServer::http("plain", SocketAddr::from((Ipv4Addr::LOCALHOST, PLAIN_PORT)));
    Nginx::start_in(backend, &[app, tls, plain], Some(ca))
}
