//! ACME with the real gateway binary and a real Pebble: the gateway obtains
//! its certificate with Pebble validating HTTP-01 through the gateway's own
//! HTTP listener and serves it on a `terminate_tls` route to curl; renewal
//! and an unreachable Pebble; `lego` behind the gateway obtaining a
//! certificate through `[http01]` forwarding and redirection.
//!
//! Pebble 2.4 follows a `302` to another port when the redirect base names
//! a host (challtestsrv resolves it to 127.0.0.1); with an IP literal as the
//! base the followed request does not reach lego, so the redirect test uses
//! a name.
//!
//! The tunnel link on the ACME certificate is checked with a link-level
//! client in `tests/acme_gateway.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use portico_tests::backends::HttpResponder;
use portico_tests::clients::curl;
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{free_port, v4};
use portico_tests::pebble::{LEGO_BOUND, Pebble};
use portico_tests::process::run_bounded;
use portico_tests::tools::require;

/// The gateway's own name; challtestsrv resolves every name to 127.0.0.1.
const DOMAIN: &str = "gw.test";

/// A gateway on `gw` (HTTP and TLS), terminating TLS for [`DOMAIN`] to
/// `backend`, with `[acme]` on `pebble`.
fn acme_gateway_toml(
    gw: SocketAddr,
    backend: SocketAddr,
    pebble: &Pebble,
    storage: &Path,
    extra: &str,
) -> String {
    [
        listener(gw, &[]),
        route(
            &[DOMAIN],
            backend,
            &["terminate_tls = true", "alpn = [\"http/1.1\"]"],
        ),
        format!(
            "[acme]\ndirectory = \"{}\"\ncontact = \"mailto:ops@gw.test\"\ndomains = [\"{DOMAIN}\"]\n\
             storage = \"{}\"\ndirectory_ca = \"{}\"\n{extra}\n",
            pebble.directory(),
            storage.display(),
            pebble.https_ca.display()
        ),
    ]
    .concat()
}

/// curl `https://gw.test:PORT/` trusting `root`: body, `VERIFY/HTTPVERSION`, and
/// the served leaf certificate (PEM).
fn curl_https(gw: SocketAddr, root: &Path) -> (String, String, String) {
    let resolve = format!("{DOMAIN}:{}:127.0.0.1", gw.port());
    let url = format!("https://{DOMAIN}:{}/", gw.port());
    let root = root.display().to_string();
    // No --http1.1: the route offers only http/1.1 by ALPN.
    let out = curl(&[
        "--cacert",
        &root,
        "--resolve",
        &resolve,
        "-w",
        "\n@@%{ssl_verify_result}/%{http_version}@@%{certs}",
        &url,
    ]);
    assert!(out.status.success(), "curl: {}", out.all());
    let (body, rest) = out.stdout.split_once("\n@@").expect("curl -w output");
    let (verify, certs) = rest.split_once("@@").expect("curl -w output");
    (body.to_owned(), verify.to_owned(), certs.to_owned())
}

/// `openssl x509 -noout -subject -serial -ext subjectAltName` of the first
/// certificate in `pem`.
fn describe_leaf(pem: &str, dir: &Path) -> String {
    let path = dir.join("served.pem");
    std::fs::write(&path, pem).expect("write served cert");
    let out = run_bounded(
        Command::new(require("openssl", "openssl"))
            .args([
                "x509",
                "-noout",
                "-subject",
                "-serial",
                "-ext",
                "subjectAltName",
                "-in",
            ])
            .arg(&path),
    );
    assert!(out.status.success(), "openssl x509: {}", out.all());
    out.stdout
}

/// The `serial=...` line of [`describe_leaf`].
fn serial_of(description: &str) -> String {
    description
        .lines()
        .find(|l| l.starts_with("serial="))
        .expect("serial line")
        .to_owned()
}

#[test]
fn gateway_obtains_its_certificate_through_its_listener_and_serves_it() {
    let port = free_port();
    let gw = v4(port);
    let pebble = Pebble::start(port);
    let app = HttpResponder::start("app");
    let tmp = tempfile::tempdir().expect("tempdir");
    let storage = tmp.path().join("acme");
    let toml = acme_gateway_toml(gw, app.addr(), &pebble, &storage, "");
    let gateway = Gateway::start(&toml);
    assert!(
        gateway.wait_log("certificate obtained"),
        "no certificate; gateway log:\n{}\npebble log:\n{}",
        gateway.log(),
        pebble.log()
    );
    assert!(
        gateway
            .log()
            .contains("HTTP-01 challenge of our own order answered")
    );
    // Logged once stored and served.
    assert!(storage.join(format!("{DOMAIN}.pem")).is_file());

    let root = pebble.write_issuing_root(tmp.path());
    let (body, verify, certs) = curl_https(gw, &root);
    assert_eq!(verify, "0/1.1", "verify result/HTTP version");
    assert_eq!(body, "app GET / HTTP/1.1\n");
    let leaf = describe_leaf(&certs, tmp.path());
    assert!(leaf.contains(&format!("DNS:{DOMAIN}")), "{leaf}");

    // Plain HTTP on the same listener still reaches the route's backend.
    let plain = curl(&[
        "--resolve",
        &format!("{DOMAIN}:{port}:127.0.0.1"),
        &format!("http://{DOMAIN}:{port}/plain"),
    ]);
    assert_eq!(plain.stdout, "app GET /plain HTTP/1.1\n", "{}", plain.all());
    assert_eq!(app.accepted(), 2);
}

#[test]
fn renewal_is_served_and_an_unreachable_pebble_leaves_the_certificate() {
    let port = free_port();
    let gw = v4(port);
    let mut pebble = Pebble::start(port);
    let app = HttpResponder::start("app");
    let tmp = tempfile::tempdir().expect("tempdir");
    let storage = tmp.path().join("acme");
    let root = pebble.write_issuing_root(tmp.path());

    let first = Gateway::start(&acme_gateway_toml(gw, app.addr(), &pebble, &storage, ""));
    assert!(first.wait_log("certificate obtained"), "{}", first.log());
    let old = serial_of(&describe_leaf(&curl_https(gw, &root).2, tmp.path()));
    drop(first);

    // A renewal window longer than the 30-day lifetime: due at once; the
    // gateway renews on its own and new handshakes get the new serial.
    let due = "renew_before = \"365d\"";
    let second = Gateway::start(&acme_gateway_toml(gw, app.addr(), &pebble, &storage, due));
    assert!(second.wait_log("certificate obtained"), "{}", second.log());
    let new = serial_of(&describe_leaf(&curl_https(gw, &root).2, tmp.path()));
    assert_ne!(new, old);
    drop(second);

    // Pebble gone: the gateway logs the failed round and its retry, and
    // keeps serving the stored certificate.
    pebble.stop();
    let third = Gateway::start(&acme_gateway_toml(gw, app.addr(), &pebble, &storage, due));
    assert!(
        third.wait_log("ACME round failed; current certificates keep serving"),
        "{}",
        third.log()
    );
    assert!(third.log().contains("retry_in="), "{}", third.log());
    let (body, verify, certs) = curl_https(gw, &root);
    assert_eq!(
        (verify.as_str(), body.as_str()),
        ("0/1.1", "app GET / HTTP/1.1\n")
    );
    assert_eq!(serial_of(&describe_leaf(&certs, tmp.path())), new);
}

/// `lego` behind the gateway: Pebble's validation request reaches the
/// gateway's listener and is forwarded (or redirected) to lego.
fn lego_through_gateway(http01: impl Fn(SocketAddr) -> String) {
    let port = free_port();
    let gw = v4(port);
    let pebble = Pebble::start(port);
    let app = HttpResponder::start("app");
    let lego_listen = v4(free_port());
    let toml = [
        listener(gw, &[]),
        route(&["*"], app.addr(), &[]),
        http01(lego_listen),
    ]
    .concat();
    let gateway = Gateway::start(&toml);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = pebble.lego("x.test", lego_listen, tmp.path());
    assert!(
        out.status.success(),
        "lego failed within {LEGO_BOUND:?}: {}\ngateway log:\n{}\npebble log:\n{}",
        out.all(),
        gateway.log(),
        pebble.log()
    );
    let cert = tmp.path().join("certificates").join("x.test.crt");
    assert!(cert.is_file(), "{}", out.all());
    assert_eq!(app.accepted(), 0, "the challenge must not reach the route");
}

#[test]
fn lego_obtains_a_certificate_through_http01_forwarding() {
    lego_through_gateway(|lego| format!("[http01]\nbackend = \"{lego}\"\n"));
}

#[test]
fn lego_obtains_a_certificate_through_an_http01_redirect() {
    lego_through_gateway(|lego| {
        format!("[http01]\nredirect = \"http://x.test:{}\"\n", lego.port())
    });
}
