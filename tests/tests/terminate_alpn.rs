//! A `terminate_tls` route and the ALPN protocols it offers, with real
//! clients: the gateway obtains its certificate from Pebble, then curl (with
//! its defaults, which offer `h2`, and with `--http1.1`) and headless
//! Chromium load a page from an HTTP/1.1 nginx through the route's default
//! `alpn`; a route that offers `h2` on purpose reaches an nginx that speaks
//! HTTP/2 in cleartext (prior knowledge) over HTTP/2; `portico-gateway
//! check` warns about such a route without failing.
//!
//! Needs pebble, nginx, curl, chromium and the built binaries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use portico_tests::clients::curl;
use portico_tests::config::{listener, route};
use portico_tests::gateway::{self, Gateway};
use portico_tests::net::{free_port, v4};
use portico_tests::nginx::{Nginx, NginxServer};
use portico_tests::pebble::Pebble;
use portico_tests::process::run;
use portico_tests::tools::require;
use tempfile::TempDir;

/// The name the terminating route serves; challtestsrv resolves every name
/// to 127.0.0.1, and the clients are told the same.
const NAME: &str = "web.test";

/// Bound on one Chromium run: it starts a browser, so more than curl.
const CHROMIUM_BOUND: Duration = Duration::from_secs(60);

/// Pebble, an nginx backend and the gateway terminating TLS for [`NAME`]
/// to it, with the certificate obtained; dropped together.
struct Scene {
    gw: SocketAddr,
    nginx: Nginx,
    gateway: Gateway,
    _pebble: Pebble,
    root: PathBuf,
    tmp: TempDir,
}

impl Scene {
    /// The route to `backend` has the `route_extra` lines after
    /// `terminate_tls = true`.
    fn start(backend: NginxServer, route_extra: &[&str]) -> Scene {
        let port = free_port();
        let gw = v4(port);
        let pebble = Pebble::start(port);
        let backend_addr = backend.listen[0];
        let nginx = Nginx::start(&[backend], None);
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut extra = vec!["terminate_tls = true"];
        extra.extend_from_slice(route_extra);
        let toml = [
            listener(gw, &[]),
            route(&[NAME], backend_addr, &extra),
            format!(
                "[acme]\ndirectory = \"{}\"\ncontact = \"mailto:ops@web.test\"\n\
                 domains = [\"{NAME}\"]\nstorage = \"{}\"\ndirectory_ca = \"{}\"\n",
                pebble.directory(),
                tmp.path().join("acme").display(),
                pebble.https_ca.display()
            ),
        ]
        .concat();
        let gateway = Gateway::start(&toml);
        assert!(
            gateway.wait_log("certificate obtained"),
            "no certificate; gateway log:\n{}\npebble log:\n{}",
            gateway.log(),
            pebble.log()
        );
        let root = pebble.write_issuing_root(tmp.path());
        Scene {
            gw,
            nginx,
            gateway,
            _pebble: pebble,
            root,
            tmp,
        }
    }

    /// The page's URL.
    fn url(&self) -> String {
        format!("https://{NAME}:{}/", self.gw.port())
    }

    /// curl `extra` to the page, trusting Pebble's root: the body and the
    /// HTTP version curl used.
    fn curl(&self, extra: &[&str]) -> (String, String) {
        let resolve = format!("{NAME}:{}:127.0.0.1", self.gw.port());
        let root = self.root.display().to_string();
        let url = self.url();
        let mut args = vec![
            "--cacert",
            &root,
            "--resolve",
            &resolve,
            "-w",
            "\n##%{http_version}",
        ];
        args.extend_from_slice(extra);
        args.push(&url);
        let out = curl(&args);
        assert!(
            out.status.success(),
            "curl {extra:?}: {}\ngateway log:\n{}\nnginx error log:\n{}",
            out.all(),
            self.gateway.log(),
            self.nginx.error_log()
        );
        let (body, version) = out.stdout.rsplit_once("\n##").expect("curl -w output");
        (body.to_owned(), version.to_owned())
    }
}

/// An nginx that speaks HTTP/1.1 only, in cleartext.
fn http11_backend() -> NginxServer {
    NginxServer::http("web", v4(free_port()))
}

#[test]
fn curl_with_its_defaults_gets_the_page_from_an_http11_backend() {
    // curl offers h2 and http/1.1 by ALPN; the route must pick http/1.1.
    let scene = Scene::start(http11_backend(), &[]);
    let (body, version) = scene.curl(&[]);
    assert_eq!(version, "1.1", "{body}");
    assert!(body.starts_with("backend=web "), "{body}");
    assert!(body.contains("proto=HTTP/1.1"), "{body}");
}

#[test]
fn curl_http11_gets_the_page_from_an_http11_backend() {
    let scene = Scene::start(http11_backend(), &[]);
    let (body, version) = scene.curl(&["--http1.1"]);
    assert_eq!(version, "1.1", "{body}");
    assert!(body.starts_with("backend=web "), "{body}");
    scene
        .nginx
        .wait_access(&["label=web", "proto=HTTP/1.1", " 200"]);
}

#[test]
fn headless_chromium_loads_the_page_from_an_http11_backend() {
    let chromium = require("chromium", "chromium");
    let scene = Scene::start(http11_backend(), &[]);
    let profile = scene.tmp.path().join("chromium-profile");
    // Only NAME resolves (to loopback): the browser reaches nothing else.
    let rules = format!("--host-resolver-rules=MAP {NAME} 127.0.0.1, MAP * ~NOTFOUND");
    let out = run(
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
                "--ignore-certificate-errors",
                &rules,
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--dump-dom", &scene.url()]),
        CHROMIUM_BOUND,
    );
    assert!(
        out.stdout.contains("backend=web ") && out.stdout.contains("proto=HTTP/1.1"),
        "chromium did not get the page ({}):\nstdout:\n{}\nstderr (tail):\n{}\ngateway log:\n{}",
        out.status,
        out.stdout,
        tail(&out.stderr, 30),
        scene.gateway.log()
    );
    scene
        .nginx
        .wait_access(&["label=web", "proto=HTTP/1.1", " 200"]);
}

#[test]
fn a_route_offering_h2_reaches_a_cleartext_http2_backend_over_http2() {
    // nginx `listen PORT http2;` without ssl: HTTP/2 with prior knowledge.
    let backend = NginxServer {
        http2: true,
        ..NginxServer::http("h2c", v4(free_port()))
    };
    let scene = Scene::start(backend, &["alpn = [\"h2\", \"http/1.1\"]"]);
    let (body, version) = scene.curl(&["--http2"]);
    assert_eq!(version, "2", "{body}");
    assert!(body.starts_with("backend=h2c "), "{body}");
    assert!(body.contains("proto=HTTP/2.0"), "{body}");
    // The running gateway logs the same warning as `check`.
    assert!(
        scene
            .gateway
            .wait_log_line(&["WARN", "configuration: this route offers `h2`", "h2c"]),
        "{}",
        scene.gateway.log()
    );
}

#[test]
fn check_warns_about_h2_on_a_terminating_route_and_passes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = v4(free_port());
    let toml = [
        listener(v4(free_port()), &[]),
        route(
            &[NAME],
            backend,
            &["terminate_tls = true", "alpn = [\"h2\", \"http/1.1\"]"],
        ),
        format!(
            "[acme]\ndirectory = \"https://127.0.0.1:1/dir\"\ncontact = \"mailto:ops@web.test\"\n\
             domains = [\"{NAME}\"]\nstorage = \"{}\"\n",
            tmp.path().join("acme").display()
        ),
    ]
    .concat();
    let path = tmp.path().join("gateway.toml");
    std::fs::write(&path, &toml).expect("write config");
    let line = toml
        .lines()
        .position(|l| l.starts_with("alpn"))
        .expect("alpn line")
        + 1;
    let out = gateway::check(&path);
    assert!(out.status.success(), "check failed: {}", out.all());
    assert!(out.stdout.starts_with("ok: "), "{}", out.all());
    assert!(out.stderr.contains("warning: "), "{}", out.all());
    assert!(out.stderr.contains("h2c"), "{}", out.all());
    assert!(
        out.stderr.contains(&format!("{}:{line}:1", path.display())),
        "{}",
        out.all()
    );

    // The default offers only http/1.1: no warning.
    let plain = toml.replace("alpn = [\"h2\", \"http/1.1\"]\n", "");
    std::fs::write(&path, plain).expect("write config");
    let out = gateway::check(&path);
    assert!(out.status.success(), "check failed: {}", out.all());
    assert!(!out.stderr.contains("warning"), "{}", out.all());
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
