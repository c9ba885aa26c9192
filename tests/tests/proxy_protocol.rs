//! PROXY protocol through the real gateway: routes with `proxy_protocol =
//! "v1"` / `"v2"` tell nginx the real client address (IPv4 and IPv6); behind
//! HAProxy's `send-proxy-v2` on a trusted listener, nginx sees HAProxy's
//! client; a PROXY header from an untrusted source is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;

use portico_tests::clients::{curl, curl_via};
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::haproxy::Haproxy;
use portico_tests::net::{
    exchange, free_port, free_port_dual, http_get, http_status, proxy_v2_header, v4, v6,
};
use portico_tests::nginx::{Nginx, NginxServer};

/// The `local_port` curl printed after `lport=`.
fn curl_local_port(stdout: &str) -> u16 {
    stdout
        .split("lport=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no lport= in curl output: {stdout}"))
}

/// GET `http://name:port/` through `via`; returns curl's local port and the body.
fn get(via: SocketAddr, port: u16, name: &str) -> (u16, String) {
    let url = format!("http://{name}:{port}/");
    let out = curl_via(via, &url, name, &[]);
    assert!(out.status.success(), "curl {url} via {via}: {}", out.all());
    assert!(out.stdout.contains("status=200"), "{}", out.all());
    (curl_local_port(&out.stdout), out.stdout)
}

/// nginx requiring a PROXY header, and a gateway listening on 127.0.0.1 and
/// ::1 with `v1.test` → v1 and `v2.test` → v2.
fn setup() -> (Nginx, Gateway, u16) {
    let backend = v4(free_port());
    let nginx = Nginx::start(
        &[NginxServer::http("pp", backend).with_proxy_protocol()],
        None,
    );
    let port = free_port_dual();
    let toml = [
        listener(v4(port), &[]),
        listener(v6(port), &[]),
        route(&["v1.test"], backend, &["proxy_protocol = \"v1\""]),
        route(&["v2.test"], backend, &["proxy_protocol = \"v2\""]),
    ]
    .concat();
    (nginx, Gateway::start(&toml), port)
}

#[test]
fn v1_and_v2_carry_the_ipv4_client_address() {
    let (nginx, _gateway, port) = setup();
    for name in ["v1.test", "v2.test"] {
        let (lport, body) = get(v4(port), port, name);
        assert!(
            body.contains(&format!("pp=127.0.0.1:{lport} ")),
            "{name}: {body}"
        );
        nginx.wait_access(&[&format!("host={name}"), &format!("pp=127.0.0.1:{lport} ")]);
    }
}

#[test]
fn v1_and_v2_carry_the_ipv6_client_address() {
    let (nginx, _gateway, port) = setup();
    for name in ["v1.test", "v2.test"] {
        let (lport, body) = get(v6(port), port, name);
        assert!(body.contains(&format!("pp=::1:{lport} ")), "{name}: {body}");
        nginx.wait_access(&[&format!("host={name}"), &format!("pp=::1:{lport} ")]);
    }
}

#[test]
fn haproxy_client_address_is_passed_on_from_a_trusted_balancer() {
    let backend = v4(free_port());
    let nginx = Nginx::start(
        &[NginxServer::http("pp", backend).with_proxy_protocol()],
        None,
    );
    let gw = v4(free_port());
    let toml = [
        listener(gw, &["accept_proxy = [\"127.0.0.0/8\"]"]),
        route(&["v1.test"], backend, &["proxy_protocol = \"v1\""]),
        route(&["v2.test"], backend, &["proxy_protocol = \"v2\""]),
    ]
    .concat();
    let _gateway = Gateway::start(&toml);
    let haproxy = Haproxy::start_send_proxy_v2(gw);
    for name in ["v1.test", "v2.test"] {
        // curl → HAProxy → gateway → nginx: all on 127.0.0.1, so the port
        // tells curl's connection from HAProxy's.
        let (lport, body) = get(haproxy.addr(), haproxy.addr().port(), name);
        assert!(
            body.contains(&format!("pp=127.0.0.1:{lport} ")),
            "nginx must see curl's port {lport}: {body}\nhaproxy log:\n{}",
            haproxy.log()
        );
        nginx.wait_access(&[&format!("host={name}"), &format!("pp=127.0.0.1:{lport} ")]);
    }
}

#[test]
fn a_proxy_header_from_an_untrusted_source_is_refused() {
    let backend = v4(free_port());
    let nginx = Nginx::start(
        &[NginxServer::http("pp", backend).with_proxy_protocol()],
        None,
    );
    let trusted_only_doc_range = v4(free_port());
    let no_trust = v4(free_port());
    let admin = v4(free_port());
    let toml = [
        listener(
            trusted_only_doc_range,
            &["accept_proxy = [\"192.0.2.0/24\"]"],
        ),
        listener(no_trust, &[]),
        route(&["v2.test"], backend, &["proxy_protocol = \"v2\""]),
        format!("[admin]\nbind = \"{admin}\"\n"),
    ]
    .concat();
    let _gateway = Gateway::start(&toml);
    for gw in [trusted_only_doc_range, no_trust] {
        let forged_client: SocketAddr = "203.0.113.9:4242".parse().unwrap();
        let mut request = proxy_v2_header(forged_client, gw);
        request.extend_from_slice(&http_get("v2.test", "/"));
        let answer = exchange(gw, &request);
        assert!(answer.closed, "the gateway must close: {}", answer.text());
        assert_ne!(http_status(&answer.bytes), Some(200), "{}", answer.text());
        assert!(!answer.text().contains("backend=pp"), "{}", answer.text());
    }
    // A real request afterwards is logged; the forged ones never were.
    let (lport, _) = get(no_trust, no_trust.port(), "v2.test");
    nginx.wait_access(&[&format!("pp=127.0.0.1:{lport} ")]);
    assert!(
        !nginx.access_log().contains("203.0.113.9"),
        "{}",
        nginx.access_log()
    );
    assert_eq!(
        nginx.access_log().lines().count(),
        1,
        "{}",
        nginx.access_log()
    );
    let metrics = curl(&[&format!("http://{admin}/metrics")]).stdout;
    let forbidden: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("portico_refusals_total{") && l.contains("reason=\"proxy_forbidden\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(forbidden, 2, "both refusals are counted:\n{metrics}");
}
