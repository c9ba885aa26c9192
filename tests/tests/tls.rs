//! TLS refusals through the real gateway, as `openssl s_client` sees them:
//! an unknown SNI gets the fatal alert `unrecognized_name` (112), a refusing
//! backend `internal_error` (80), a malformed ClientHello `decode_error`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use portico_tests::certs::TestCa;
use portico_tests::clients::s_client;
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{exchange, free_port, v4};
use portico_tests::nginx::{Nginx, NginxServer};

#[test]
fn unknown_sni_gets_alert_unrecognized_name() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path(), &["a.test"]);
    let backend = v4(free_port());
    let _nginx = Nginx::start(&[NginxServer::https("a", backend, "a.test")], Some(&ca));
    let gw = v4(free_port());
    let _gateway = Gateway::start(&[listener(gw, &[]), route(&["a.test"], backend, &[])].concat());

    let known = s_client(gw, "a.test", &ca.ca());
    assert!(
        known.all().contains("Verify return code: 0 (ok)"),
        "{}",
        known.all()
    );

    let out = s_client(gw, "unknown.test", &ca.ca());
    assert!(!out.status.success(), "{}", out.all());
    assert!(out.all().contains("unrecognized name"), "{}", out.all());
    assert!(out.all().contains("alert number 112"), "{}", out.all());
}

#[test]
fn refusing_backend_gets_alert_internal_error() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path(), &["a.test"]);
    let nobody_listens = v4(free_port());
    let gw = v4(free_port());
    let gateway =
        Gateway::start(&[listener(gw, &[]), route(&["a.test"], nobody_listens, &[])].concat());
    let out = s_client(gw, "a.test", &ca.ca());
    assert!(!out.status.success(), "{}", out.all());
    assert!(out.all().contains("internal error"), "{}", out.all());
    assert!(out.all().contains("alert number 80"), "{}", out.all());
    assert!(
        gateway.wait_log_line(&["client=127.0.0.1:", "a.test"]),
        "the refusal is logged with client and name:\n{}",
        gateway.log()
    );
}

#[test]
fn malformed_client_hello_gets_alert_decode_error() {
    let gw = v4(free_port());
    let _gateway =
        Gateway::start(&[listener(gw, &[]), route(&["a.test"], v4(free_port()), &[])].concat());
    // A complete handshake record holding a complete, empty ClientHello
    // (no version, random, or cipher suites).
    let bogus = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00];
    let answer = exchange(gw, &bogus);
    assert!(answer.closed, "closed after the alert");
    // Alert record: type 21, any version, length 2, level fatal (2), decode_error (50).
    let alert = answer.bytes.get(..7).unwrap_or_default();
    assert_eq!(
        alert.first(),
        Some(&21),
        "an alert record: {:?}",
        answer.bytes
    );
    assert_eq!(
        alert.get(5..7),
        Some(&[2u8, 50][..]),
        "fatal decode_error: {:?}",
        answer.bytes
    );
}
