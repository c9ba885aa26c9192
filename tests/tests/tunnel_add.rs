//! Onboarding a tunnel as the README's four commands do: the gateway starts
//! with `[tunnels]` and no `cert`/`key` (it makes its self-signed link
//! certificate in `storage`), `portico-gateway tunnel add` writes the token
//! and prints the stanza and the client file, the stanza is added and the
//! gateway reloaded, and the real `portico-tunnel` run on the printed file
//! connects, pinning the certificate by fingerprint; a request reaches the
//! backend through it. Loopback only. Needs curl and the built binaries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use portico_tests::backends::HttpResponder;
use portico_tests::binaries::binary;
use portico_tests::clients::curl;
use portico_tests::config::listener;
use portico_tests::gateway::Gateway;
use portico_tests::net::{free_port, v4};
use portico_tests::process::{Peer, run_bounded};
use portico_tests::tunnel::{SESSION_UP, tunnel_route};

/// The line between the stanza and the client file in the output.
const MARK: &str = "# ---- the tunnel client's file ----";
/// Bound on the tunnel client establishing its session.
const SESSION_WAIT: Duration = Duration::from_secs(15);

#[test]
fn tunnel_add_output_connects_a_real_tunnel_client() {
    let state = tempfile::tempdir().expect("tempdir");
    let backend = HttpResponder::start("app");
    let gw_port = free_port();
    let link = v4(free_port());
    let base = [
        listener(v4(gw_port), &[]),
        format!(
            "[tunnels]\nbind = \"{link}\"\nstorage = \"{}\"\n\n",
            state.path().join("link").display()
        ),
    ]
    .concat();
    let gateway = Gateway::start(&base);
    assert!(
        gateway.wait_log("tunnel link certificate"),
        "{}",
        gateway.log()
    );

    let out = run_bounded(
        Command::new(binary("portico-gateway"))
            .args(["tunnel", "add", "home", "--to"])
            .arg(backend.addr().to_string())
            .arg("--config")
            .arg(gateway.config_path()),
    );
    assert!(out.status.success(), "{}", out.all());
    let (stanza, client_file) = out.stdout.split_once(MARK).expect("marker in output");
    let token = gateway.config_path().with_file_name("home.token");
    let mode = std::fs::metadata(&token)
        .expect("token")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        client_file.contains("gateway_fingerprint = \"sha256:"),
        "{client_file}"
    );

    // Step 3: the stanza and a route go into the gateway's file; reload.
    let toml = [base, stanza.to_owned(), tunnel_route(&["app.test"], "home")].concat();
    gateway.reload(&toml);
    assert!(
        gateway.wait_log("configuration reloaded"),
        "{}",
        gateway.log()
    );

    // Step 4: on the tunnel host, the client file with the token beside it.
    let host = tempfile::tempdir().expect("tempdir");
    let client_path = host.path().join("tunnel.toml");
    std::fs::write(&client_path, client_file).expect("write client file");
    let copied = host.path().join("home.token");
    std::fs::copy(&token, &copied).expect("copy token");
    std::fs::set_permissions(&copied, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut client = Peer::spawn(
        "portico-tunnel",
        Command::new(binary("portico-tunnel"))
            .arg("--config")
            .arg(&client_path)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1"),
        &host.path().join("tunnel.log"),
    );
    let up = client.wait_log(SESSION_UP, SESSION_WAIT);
    client.assert_running();
    assert!(
        up,
        "no session; tunnel log:\n{}\ngateway log:\n{}",
        client.log(),
        gateway.log()
    );
    let got = curl(&[
        "--resolve",
        &format!("app.test:{gw_port}:127.0.0.1"),
        &format!("http://app.test:{gw_port}/onboarded"),
    ]);
    assert_eq!(got.stdout, "app GET /onboarded HTTP/1.1\n", "{}", got.all());
}
