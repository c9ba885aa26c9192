//! ACME HTTP-01 interception in the real gateway: challenge requests go to
//! the `[http01]` backend whatever the Host (or get a 302 to the redirect
//! base), optionally only for the `hosts` named; other paths are routed
//! normally.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use portico_tests::backends::HttpResponder;
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{exchange, free_port, http_get, http_status, v4};

const CHALLENGE: &str = "/.well-known/acme-challenge/Tok3n_-x";

#[test]
fn challenges_are_forwarded_to_the_http01_backend_whatever_the_host() {
    let app = HttpResponder::start("app");
    let acme = HttpResponder::start("acme");
    let gw = v4(free_port());
    let toml = [
        listener(gw, &[]),
        route(&["app.test"], app.addr(), &[]),
        format!("[http01]\nbackend = \"{}\"\n", acme.addr()),
    ]
    .concat();
    let _gateway = Gateway::start(&toml);
    for host in ["app.test", "unrouted.test", "x.app.test"] {
        let answer = exchange(gw, &http_get(host, CHALLENGE));
        assert_eq!(
            http_status(&answer.bytes),
            Some(200),
            "{host}: {}",
            answer.text()
        );
        assert!(
            answer
                .text()
                .ends_with(&format!("acme GET {CHALLENGE} HTTP/1.1\n")),
            "{host}: {}",
            answer.text()
        );
    }
    let heads = acme.requests();
    assert_eq!(heads.len(), 3);
    assert!(
        heads[1].contains("Host: unrouted.test\r\n"),
        "forwarded unchanged: {}",
        heads[1]
    );

    let answer = exchange(gw, &http_get("app.test", "/index.html"));
    assert!(
        answer.text().ends_with("app GET /index.html HTTP/1.1\n"),
        "{}",
        answer.text()
    );
    assert_eq!(
        acme.accepted(),
        3,
        "only challenges reach the http01 backend"
    );
    assert_eq!(app.accepted(), 1);
}

#[test]
fn challenges_are_redirected_to_the_base_with_the_original_path() {
    let app = HttpResponder::start("app");
    let gw = v4(free_port());
    let toml = [
        listener(gw, &[]),
        route(&["app.test"], app.addr(), &[]),
        "[http01]\nredirect = \"http://acme.example.net\"\n".to_owned(),
    ]
    .concat();
    let _gateway = Gateway::start(&toml);
    for host in ["app.test", "unrouted.test"] {
        let answer = exchange(gw, &http_get(host, CHALLENGE));
        assert_eq!(
            http_status(&answer.bytes),
            Some(302),
            "{host}: {}",
            answer.text()
        );
        let location = format!("location: http://acme.example.net{CHALLENGE}\r\n");
        assert!(
            answer
                .text()
                .to_ascii_lowercase()
                .contains(&location.to_ascii_lowercase()),
            "{host}: {}",
            answer.text()
        );
    }
    assert_eq!(app.accepted(), 0, "redirects never reach a backend");
    let answer = exchange(gw, &http_get("app.test", "/"));
    assert!(
        answer.text().ends_with("app GET / HTTP/1.1\n"),
        "{}",
        answer.text()
    );
}

#[test]
fn only_the_named_hosts_are_intercepted() {
    let app = HttpResponder::start("app");
    let acme = HttpResponder::start("acme");
    let gw = v4(free_port());
    let toml = [
        listener(gw, &[]),
        route(&["*.test"], app.addr(), &[]),
        format!(
            "[http01]\nbackend = \"{}\"\nhosts = [\"cert.test\"]\n",
            acme.addr()
        ),
    ]
    .concat();
    let _gateway = Gateway::start(&toml);
    let answer = exchange(gw, &http_get("cert.test", CHALLENGE));
    assert!(
        answer.text().starts_with("HTTP/1.1 200") && answer.text().contains("acme GET"),
        "{}",
        answer.text()
    );
    let answer = exchange(gw, &http_get("other.test", CHALLENGE));
    assert!(
        answer.text().contains("app GET"),
        "not intercepted: {}",
        answer.text()
    );
    assert_eq!((acme.accepted(), app.accepted()), (1, 1));
}
