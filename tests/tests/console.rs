//! The operator's console against the real binaries: a gateway with a
//! route, a tunnel client connected over the link (both with `[admin]` and
//! a token), traffic through both. Headless Chromium loads the live page
//! (through `/?token=`, which sets the cookie its script then uses): the
//! DOM shows the routes, the tunnel session, and a refusal counter that
//! rises after a refused request; a screenshot goes to
//! `target/test-output/console.png`. The `status` commands of both programs
//! print the route and the session; without `[admin]` they say so.
//!
//! Loopback only. Needs curl, chromium and the built binaries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use portico_tests::backends::HttpResponder;
use portico_tests::binaries::binary;
use portico_tests::clients::curl;
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{free_port, v4};
use portico_tests::poll_until;
use portico_tests::process::{Output, Peer, run, run_bounded};
use portico_tests::tools::require;
use portico_tests::tunnel::{SESSION_UP, tunnel_route};
use tempfile::TempDir;

/// The line between the stanza and the client file in `tunnel add`'s output.
const MARK: &str = "# ---- the tunnel client's file ----";
/// Bound on the tunnel client establishing its session.
const SESSION_WAIT: Duration = Duration::from_secs(15);
/// Bound on one Chromium run.
const CHROMIUM_BOUND: Duration = Duration::from_secs(60);
/// Bound on the page showing a new refusal (the script polls every 2 s).
const REFUSAL_WAIT: Duration = Duration::from_secs(45);
/// The admin token of both programs.
const TOKEN: &str = "console-test-token-0123456789";

/// A gateway and a tunnel client with admin endpoints, traffic sent.
struct Scene {
    gateway: Gateway,
    client: Peer,
    client_config: PathBuf,
    gw_port: u16,
    admin: std::net::SocketAddr,
    tunnel_admin: std::net::SocketAddr,
    _backend: HttpResponder,
    _state: TempDir,
    host: TempDir,
}

fn write_token(path: &Path) {
    std::fs::write(path, format!("{TOKEN}\n")).expect("token");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

impl Scene {
    fn start() -> Scene {
        let state = tempfile::tempdir().expect("tempdir");
        let backend = HttpResponder::start("app");
        let gw_port = free_port();
        let link = v4(free_port());
        let admin = v4(free_port());
        let token = state.path().join("admin.token");
        write_token(&token);
        let base = [
            listener(v4(gw_port), &[]),
            format!(
                "[tunnels]\nbind = \"{link}\"\nstorage = \"{}\"\n\n[admin]\nbind = \"{admin}\"\ntoken_file = \"{}\"\n\n",
                state.path().join("link").display(),
                token.display()
            ),
            route(&["app.test"], backend.addr(), &[]),
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
        let (stanza, client_file) = out.stdout.split_once(MARK).expect("marker");
        gateway.reload(&[base, stanza.to_owned(), tunnel_route(&["tun.test"], "home")].concat());
        assert!(
            gateway.wait_log("configuration reloaded"),
            "{}",
            gateway.log()
        );

        let host = tempfile::tempdir().expect("tempdir");
        let tunnel_admin = v4(free_port());
        write_token(&host.path().join("admin.token"));
        let client_config = host.path().join("tunnel.toml");
        std::fs::write(
            &client_config,
            format!(
                "{client_file}\n[admin]\nbind = \"{tunnel_admin}\"\ntoken_file = \"admin.token\"\n"
            ),
        )
        .expect("client file");
        let copied = host.path().join("home.token");
        std::fs::copy(gateway.config_path().with_file_name("home.token"), &copied).expect("copy");
        std::fs::set_permissions(&copied, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut client = Peer::spawn(
            "portico-tunnel",
            Command::new(binary("portico-tunnel"))
                .arg("--config")
                .arg(&client_config)
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1"),
            &host.path().join("tunnel.log"),
        );
        let up = client.wait_log(SESSION_UP, SESSION_WAIT);
        client.assert_running();
        assert!(up, "no session:\n{}\n{}", client.log(), gateway.log());
        let scene = Scene {
            gateway,
            client,
            client_config,
            gw_port,
            admin,
            tunnel_admin,
            _backend: backend,
            _state: state,
            host,
        };
        for name in ["app.test", "tun.test"] {
            let got = scene.get(name);
            assert_eq!(got.stdout, "app GET /console HTTP/1.1\n", "{}", got.all());
        }
        scene
    }

    fn get(&self, name: &str) -> Output {
        let port = self.gw_port;
        curl(&[
            "--resolve",
            &format!("{name}:{port}:127.0.0.1"),
            &format!("http://{name}:{port}/console"),
        ])
    }

    /// A request no route takes: answered 421 and counted as `no_route`.
    fn refused(&self) {
        let _ = self.get("nobody.test");
    }
}

/// Where test output (the screenshot) goes: `target/test-output/`.
fn output_dir() -> PathBuf {
    let bin = binary("portico-gateway");
    let target = bin.parent().and_then(Path::parent).expect("target dir");
    let dir = target.join("test-output");
    std::fs::create_dir_all(&dir).expect("test-output");
    dir
}

/// Runs Chromium on `url` with `extra` arguments and a fresh profile.
fn chromium(profile: &Path, url: &str, extra: &[&str]) -> Output {
    let chromium = require("chromium", "chromium");
    run(
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(url),
        CHROMIUM_BOUND,
    )
}

/// The `no_route` refusal total in a dumped DOM's refusals table.
fn no_route_total(dom: &str) -> Option<u64> {
    let (_, table) = dom.split_once("id=\"refusals\"")?;
    let table = table.split("</tbody>").next()?;
    let (_, row) = table.split_once(">no_route</td>")?;
    let cells: Vec<&str> = row
        .split("</td>")
        .take(2)
        .map(|c| c.rsplit('>').next().unwrap_or_default())
        .collect();
    cells.get(1)?.trim().parse().ok()
}

#[test]
fn headless_chromium_shows_the_live_console() {
    let scene = Scene::start();
    scene.refused();
    let profile = tempfile::tempdir().expect("profile");
    let url = format!("http://{}/?token={TOKEN}", scene.admin);
    // The script's first poll has run within the virtual-time budget.
    let dump = |budget: &str| {
        chromium(
            profile.path(),
            &url,
            &[&format!("--virtual-time-budget={budget}"), "--dump-dom"],
        )
    };
    let first = dump("3000");
    let dom = &first.stdout;
    assert!(
        dom.contains(">app.test</td>") && dom.contains("tunnel home"),
        "routes missing ({}):\n{dom}\nstderr:\n{}",
        first.status,
        first.stderr
    );
    assert!(
        dom.contains(">home</td>") && dom.contains(">quic</td>"),
        "{dom}"
    );
    assert!(
        dom.contains("live · updated"),
        "the script did not refresh:\n{dom}"
    );
    let before = no_route_total(dom).expect("no_route row");
    assert!(before >= 1, "{dom}");

    scene.refused();
    let risen = poll_until(REFUSAL_WAIT, || {
        let now = no_route_total(&dump("2500").stdout)?;
        (now > before).then_some(now)
    });
    assert!(
        risen.is_some(),
        "the refusal counter did not rise from {before}"
    );

    let shot = output_dir().join("console.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        profile.path(),
        &url,
        &[
            "--virtual-time-budget=3000",
            "--window-size=1280,1100",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(shot.is_file(), "no screenshot: {}", out.all());
    let phone = output_dir().join("console-phone.png");
    chromium(
        profile.path(),
        &url,
        &[
            "--virtual-time-budget=3000",
            "--window-size=390,1400",
            &format!("--screenshot={}", phone.display()),
        ],
    );
    // The tunnel client's page needs its own token too.
    let tunnel_dom = chromium(
        profile.path(),
        &format!("http://{}/?token={TOKEN}", scene.tunnel_admin),
        &["--virtual-time-budget=3000", "--dump-dom"],
    );
    assert!(
        tunnel_dom.stdout.contains("Services"),
        "{}",
        tunnel_dom.all()
    );
    assert!(
        tunnel_dom.stdout.contains(">quic</td>"),
        "{}",
        tunnel_dom.all()
    );
    let tunnel_shot = output_dir().join("console-tunnel.png");
    chromium(
        profile.path(),
        &format!("http://{}/?token={TOKEN}", scene.tunnel_admin),
        &[
            "--virtual-time-budget=3000",
            "--window-size=1280,800",
            &format!("--screenshot={}", tunnel_shot.display()),
        ],
    );
    assert!(
        tunnel_shot.is_file(),
        "no screenshot of the tunnel client's page"
    );
}

#[test]
fn status_commands_print_the_route_and_the_session() {
    let scene = Scene::start();
    scene.refused();
    let gw = run_bounded(
        Command::new(binary("portico-gateway"))
            .arg("status")
            .arg("--config")
            .arg(scene.gateway.config_path()),
    );
    assert!(gw.status.success(), "{}", gw.all());
    for needle in [
        "ROUTES",
        "app.test",
        "tunnel home",
        "TUNNEL SESSIONS",
        "quic",
        "no_route",
    ] {
        assert!(gw.stdout.contains(needle), "{needle}:\n{}", gw.stdout);
    }
    let json = run_bounded(
        Command::new(binary("portico-gateway"))
            .args(["status", "--json", "--config"])
            .arg(scene.gateway.config_path()),
    );
    assert!(
        json.stdout.starts_with("{\"program\":\"portico-gateway\""),
        "{}",
        json.all()
    );

    let tunnel = run_bounded(
        Command::new(binary("portico-tunnel"))
            .arg("status")
            .arg("--config")
            .arg(&scene.client_config),
    );
    assert!(tunnel.status.success(), "{}", tunnel.all());
    let link = scene.gateway.log();
    for needle in [
        "portico-tunnel",
        "SERVICES",
        "TUNNEL SESSIONS",
        "home",
        "quic",
    ] {
        assert!(
            tunnel.stdout.contains(needle),
            "{needle}:\n{}\n{link}",
            tunnel.stdout
        );
    }
    // The request through the tunnel was counted on its service.
    let tunnel_json = run_bounded(
        Command::new(binary("portico-tunnel"))
            .args(["status", "--json", "--config"])
            .arg(&scene.client_config),
    );
    assert!(
        tunnel_json.stdout.contains("\"connections\":1,"),
        "{}",
        tunnel_json.all()
    );

    // A wrong token: 401, said plainly.
    let wrong = scene.host.path().join("wrong.toml");
    let text = std::fs::read_to_string(&scene.client_config).unwrap();
    std::fs::write(
        scene.host.path().join("wrong.token"),
        "another-token-0123456789\n",
    )
    .unwrap();
    std::fs::set_permissions(
        scene.host.path().join("wrong.token"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(&wrong, text.replace("admin.token", "wrong.token")).unwrap();
    let refused = run_bounded(
        Command::new(binary("portico-tunnel"))
            .args(["status", "--config"])
            .arg(&wrong),
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.all());
    assert!(refused.stderr.contains("401"), "{}", refused.all());

    // Without [admin]: a clear error, exit 1.
    let bare = scene.host.path().join("bare.toml");
    let without: String = text.split("\n[admin]").next().unwrap().to_owned();
    std::fs::write(&bare, without).unwrap();
    let missing = run_bounded(
        Command::new(binary("portico-tunnel"))
            .args(["status", "--config"])
            .arg(&bare),
    );
    assert_eq!(missing.status.code(), Some(1), "{}", missing.all());
    assert!(
        missing.stderr.contains("no [admin] section"),
        "{}",
        missing.all()
    );
    drop(scene.client);
}
