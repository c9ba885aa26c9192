//! The tunnel link with the most common self-signed certificate: one made
//! by `openssl req -x509` with OpenSSL's defaults, which is CA:TRUE. Given
//! as the tunnel client's `ca`, it is pinned: the real `portico-tunnel`
//! connects to the real gateway and a request through the tunnel reaches
//! the backend. Another self-signed certificate as `ca` is refused, and the
//! client's log says what `ca` must hold and how to compare fingerprints.
//!
//! Everything runs on loopback in the test's own network namespace (plain
//! `source = "tunnel"` delivery). Needs openssl, curl and the built binaries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use portico_tests::backends::HttpResponder;
use portico_tests::binaries::binary;
use portico_tests::clients::curl;
use portico_tests::config::listener;
use portico_tests::gateway::Gateway;
use portico_tests::net::{free_port, v4};
use portico_tests::process::{Peer, run_bounded};
use portico_tests::tools::require;
use portico_tests::tunnel::{
    Delivery, SESSION_UP, ServiceSpec, client_config, gateway_tunnels, tunnel_route, write_token,
};

/// The tunnel's name.
const TUNNEL: &str = "home";
/// Its token.
const TOKEN: &str = "pin-test-token-0123456789abcdef";
/// The name routed into the tunnel.
const APP: &str = "app.test";
/// Bound on the tunnel client establishing (or failing) its session.
const SESSION_WAIT: Duration = Duration::from_secs(15);

/// `openssl req -x509 …` exactly as an operator types it: a P-256 key and a
/// self-signed certificate for `localhost` and 127.0.0.1, CA:TRUE by
/// OpenSSL's defaults. Returns (cert, key).
fn openssl_self_signed(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    let out = run_bounded(
        Command::new(require("openssl", "openssl"))
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args([
                "-days",
                "30",
                "-subj",
                "/CN=gw",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ]),
    );
    assert!(out.status.success(), "openssl req: {}", out.all());
    (cert, key)
}

/// The gateway (HTTP on a loopback listener, the link on UDP with the
/// certificate `cert`) and the tunnel client trusting `ca`; the backend
/// answers `app GET …`.
struct Scene {
    gateway: Gateway,
    client: Peer,
    backend: HttpResponder,
    gw_port: u16,
    _dir: tempfile::TempDir,
}

impl Scene {
    fn start(cert: &Path, key: &Path, ca: &Path, dir: tempfile::TempDir) -> Scene {
        let backend = HttpResponder::start("app");
        let gw_port = free_port();
        let link = v4(free_port());
        let token = write_token(dir.path(), TUNNEL, TOKEN);
        let toml = [
            listener(v4(gw_port), &[]),
            tunnel_route(&[APP], TUNNEL),
            gateway_tunnels(link, cert, key, &[(TUNNEL, &token)]),
        ]
        .concat();
        let gateway = Gateway::start(&toml);
        let client_toml = client_config(
            link,
            TUNNEL,
            &token,
            ca,
            Delivery::Plain,
            &[ServiceSpec::new(APP, backend.addr(), false)],
        );
        let client_path = dir.path().join("tunnel.toml");
        std::fs::write(&client_path, client_toml).expect("write tunnel config");
        let client = Peer::spawn(
            "portico-tunnel",
            Command::new(binary("portico-tunnel"))
                .arg("--config")
                .arg(&client_path)
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1"),
            &dir.path().join("tunnel.log"),
        );
        Scene {
            gateway,
            client,
            backend,
            gw_port,
            _dir: dir,
        }
    }
}

#[test]
fn a_ca_true_self_signed_link_certificate_given_as_ca_connects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = openssl_self_signed(dir.path(), "gw");
    let mut scene = Scene::start(&cert, &key, &cert, dir);
    let up = scene.client.wait_log(SESSION_UP, SESSION_WAIT);
    scene.client.assert_running();
    assert!(
        up,
        "no session within {SESSION_WAIT:?}; tunnel log:\n{}\ngateway log:\n{}",
        scene.client.log(),
        scene.gateway.log()
    );
    let out = curl(&[
        "--resolve",
        &format!("{APP}:{}:127.0.0.1", scene.gw_port),
        &format!("http://{APP}:{}/through-the-tunnel", scene.gw_port),
    ]);
    assert_eq!(
        out.stdout,
        "app GET /through-the-tunnel HTTP/1.1\n",
        "{}\ntunnel log:\n{}\ngateway log:\n{}",
        out.all(),
        scene.client.log(),
        scene.gateway.log()
    );
    assert_eq!(scene.backend.accepted(), 1);
}

#[test]
fn another_self_signed_certificate_as_ca_is_refused_with_advice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = openssl_self_signed(dir.path(), "gw");
    let (other, _) = openssl_self_signed(dir.path(), "other");
    let mut scene = Scene::start(&cert, &key, &other, dir);
    let advised = scene.client.wait_log_line(
        &[
            "ERROR",
            "certificate is not accepted",
            &format!("`ca` ({})", other.display()),
            "openssl x509 -noout -fingerprint -sha256 -in FILE",
        ],
        SESSION_WAIT,
    );
    scene.client.assert_running();
    assert!(
        advised,
        "no advice logged within {SESSION_WAIT:?}; tunnel log:\n{}",
        scene.client.log()
    );
    assert!(
        !scene.client.log().contains(SESSION_UP),
        "{}",
        scene.client.log()
    );
}
