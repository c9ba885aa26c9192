//! Routing by name through the real gateway: curl over HTTP (`Host`) and
//! HTTPS (SNI) reaches the nginx server that the route names, by exact name,
//! by wildcard, and by `*`; TLS and its ALPN pass through untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;

use portico_tests::certs::TestCa;
use portico_tests::clients::curl_via;
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{free_port, v4};
use portico_tests::nginx::{Nginx, NginxServer};

/// Three nginx servers `exact`, `wild`, `default`, routed from one gateway
/// listener by `a.test` + `exact.b.test`, `*.b.test`, and `*`.
struct Setup {
    _gateway: Gateway,
    nginx: Nginx,
    addr: SocketAddr,
    ca: TestCa,
    _certs: tempfile::TempDir,
}

fn setup(tls: bool) -> Setup {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path(), &["a.test", "deep.x.b.test", "other.test"]);
    let (exact, wild, default) = (v4(free_port()), v4(free_port()), v4(free_port()));
    let servers = if tls {
        vec![
            NginxServer::https("exact", exact, "a.test"),
            NginxServer::https("wild", wild, "deep.x.b.test"),
            NginxServer::https("default", default, "other.test"),
        ]
    } else {
        vec![
            NginxServer::http("exact", exact),
            NginxServer::http("wild", wild),
            NginxServer::http("default", default),
        ]
    };
    let nginx = Nginx::start(&servers, Some(&ca));
    let addr = v4(free_port());
    let toml = [
        listener(addr, &[]),
        route(&["*"], default, &[]),
        route(&["*.b.test"], wild, &[]),
        route(&["a.test", "exact.b.test"], exact, &[]),
    ]
    .concat();
    let gateway = Gateway::start(&toml);
    Setup {
        _gateway: gateway,
        nginx,
        addr,
        ca,
        _certs: certs,
    }
}

fn http(setup: &Setup, name: &str) -> String {
    let url = format!("http://{name}:{}/", setup.addr.port());
    let out = curl_via(setup.addr, &url, name, &[]);
    assert!(out.status.success(), "curl {url}: {}", out.all());
    out.stdout
}

#[test]
fn http_host_selects_exact_wildcard_and_default_routes() {
    let s = setup(false);
    let cases = [
        ("a.test", "exact"),
        ("A.Test", "exact"),
        ("exact.b.test", "exact"),
        ("one.b.test", "wild"),
        ("deep.x.b.test", "wild"),
        ("b.test", "default"),
        ("other.test", "default"),
    ];
    for (name, label) in cases {
        let body = http(&s, name);
        assert!(
            body.contains(&format!("backend={label} ")),
            "{name} should reach {label}: {body}"
        );
        let host = name.to_ascii_lowercase();
        s.nginx
            .wait_access(&[&format!("label={label}"), &format!("host={host}")]);
    }
}

#[test]
fn tls_sni_selects_exact_wildcard_and_default_routes() {
    let s = setup(true);
    let ca = s.ca.ca();
    let ca = ca.to_str().unwrap();
    for (name, label, extra) in [
        ("a.test", "exact", vec!["--cacert", ca]),
        ("deep.x.b.test", "wild", vec!["--cacert", ca]),
        // The default server's certificate is for other.test: check the
        // route, not the name.
        ("nothing.test", "default", vec!["-k"]),
    ] {
        let url = format!("https://{name}:{}/", s.addr.port());
        let out = curl_via(
            s.addr,
            &url,
            name,
            &[&["--http1.1"], extra.as_slice()].concat(),
        );
        assert!(out.status.success(), "curl {url}: {}", out.all());
        assert!(
            out.stdout.contains(&format!("backend={label} ")),
            "{}",
            out.all()
        );
        assert!(
            out.stdout.contains(&format!("sni={name} ")),
            "{}",
            out.all()
        );
    }
}

#[test]
fn http2_alpn_passes_through_untouched() {
    let s = setup(true);
    let ca = s.ca.ca();
    let url = format!("https://a.test:{}/", s.addr.port());
    let out = curl_via(
        s.addr,
        &url,
        "a.test",
        &["--http2", "--cacert", ca.to_str().unwrap()],
    );
    assert!(out.status.success(), "curl {url}: {}", out.all());
    assert!(
        out.stdout.contains("http=2"),
        "curl spoke HTTP/2: {}",
        out.all()
    );
    let line = s
        .nginx
        .wait_access(&["label=exact", "sni=a.test", "alpn=h2"]);
    assert!(line.contains("proto=HTTP/2.0"), "{line}");
}
