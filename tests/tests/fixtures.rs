//! The harness's peers work on their own, without the gateway: nginx answers
//! over HTTP, HTTPS (h2) and PROXY protocol, HAProxy sends PROXY v2, Prosody
//! accepts a slixmpp login. When a gateway test fails, these say whether the
//! peer or the gateway is at fault.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use portico_tests::backends::{EchoServer, HttpResponder};
use portico_tests::certs::TestCa;
use portico_tests::clients::{curl_via, xmpp_login};
use portico_tests::haproxy::Haproxy;
use portico_tests::net::{exchange, free_port, http_get, http_status, send_and_shutdown, v4};
use portico_tests::nginx::{Nginx, NginxServer};
use portico_tests::prosody::Prosody;
use portico_tests::sshd::Sshd;

#[test]
fn nginx_serves_http_https_and_proxy_protocol() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path(), &["a.test"]);
    let (plain, tls, pp) = (v4(free_port()), v4(free_port()), v4(free_port()));
    let nginx = Nginx::start(
        &[
            NginxServer::http("plain", plain),
            NginxServer::https("tls", tls, "a.test"),
            NginxServer::http("pp", pp).with_proxy_protocol(),
        ],
        Some(&ca),
    );
    let out = curl_via(
        plain,
        &format!("http://a.test:{}/", plain.port()),
        "a.test",
        &[],
    );
    assert!(out.stdout.contains("backend=plain"), "{}", out.all());
    let ca_path = ca.ca();
    let out = curl_via(
        tls,
        &format!("https://a.test:{}/", tls.port()),
        "a.test",
        &["--http2", "--cacert", ca_path.to_str().unwrap()],
    );
    assert!(out.stdout.contains("backend=tls"), "{}", out.all());
    assert!(out.stdout.contains("http=2"), "{}", out.all());
    nginx.wait_access(&["label=tls", "sni=a.test", "alpn=h2"]);

    let mut request = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n".to_vec();
    request.extend_from_slice(&http_get("pp.test", "/"));
    let answer = exchange(pp, &request);
    assert_eq!(http_status(&answer.bytes), Some(200), "{}", answer.text());
    nginx.wait_access(&["label=pp", "pp=203.0.113.7:5555"]);
}

#[test]
fn haproxy_sends_the_client_address_in_proxy_v2() {
    let pp = v4(free_port());
    let nginx = Nginx::start(&[NginxServer::http("pp", pp).with_proxy_protocol()], None);
    let haproxy = Haproxy::start_send_proxy_v2(pp);
    let answer = exchange(haproxy.addr(), &http_get("x.test", "/"));
    assert_eq!(http_status(&answer.bytes), Some(200), "{}", answer.text());
    nginx.wait_access(&["label=pp", "pp=127.0.0.1:"]);
}

#[test]
fn rust_backends_answer_and_count() {
    let echo = EchoServer::with_banner("one");
    let answer = send_and_shutdown(echo.addr(), b"ping");
    assert!(answer.closed);
    assert_eq!(answer.text(), "one\nping");
    assert_eq!(echo.accepted(), 1);
    let http = HttpResponder::start("acme");
    let answer = exchange(http.addr(), &http_get("h.test", "/x"));
    assert!(
        answer.text().ends_with("acme GET /x HTTP/1.1\n"),
        "{}",
        answer.text()
    );
    assert!(http.requests()[0].contains("Host: h.test"));
}

#[test]
fn prosody_accepts_a_slixmpp_login() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path(), &["xmpp.test"]);
    let prosody = Prosody::start("xmpp.test", &ca, &[("alice", "alicepass")]);
    let out = xmpp_login(prosody.addr(), "alice@xmpp.test", "alicepass", &ca.ca());
    assert!(
        out.status.success() && out.stdout.contains("LOGIN OK"),
        "{}\nprosody log:\n{}",
        out.all(),
        prosody.log()
    );
}

#[test]
fn sshd_accepts_the_client_key() {
    let sshd = Sshd::start();
    let proxy = format!("nc {} {}", sshd.addr().ip(), sshd.addr().port());
    let out = sshd.ssh("ssh.test", &proxy, "echo fixture-ok");
    assert!(
        out.status.success() && out.stdout.trim() == "fixture-ok",
        "{}\nsshd log:\n{}",
        out.all(),
        sshd.log()
    );
}
