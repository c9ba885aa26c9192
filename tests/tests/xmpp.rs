//! XMPP through the real gateway: slixmpp logs in to Prosody (STARTTLS c2s)
//! routed by the stream header's `to`; an unknown domain gets
//! `<host-unknown/>` and an unreachable backend `<remote-connection-failed/>`
//! inside a `<stream:error>`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;

use portico_tests::certs::TestCa;
use portico_tests::clients::xmpp_login;
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{exchange, free_port, v4};
use portico_tests::prosody::Prosody;

fn stream_header(to: &str) -> Vec<u8> {
    format!(
        "<?xml version='1.0'?><stream:stream to='{to}' version='1.0' xml:lang='en' \
         xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    .into_bytes()
}

#[test]
fn slixmpp_logs_in_to_prosody_through_the_gateway() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path(), &["xmpp.test"]);
    let prosody = Prosody::start("xmpp.test", &ca, &[("alice", "alicepass")]);
    let gw = v4(free_port());
    let gateway = Gateway::start(
        &[
            listener(gw, &[]),
            route(&["xmpp.test"], prosody.addr(), &[]),
        ]
        .concat(),
    );
    let out = xmpp_login(gw, "alice@xmpp.test", "alicepass", &ca.ca());
    assert!(
        out.status.success() && out.stdout.contains("LOGIN OK"),
        "{}\nprosody log:\n{}\ngateway log:\n{}",
        out.all(),
        prosody.log(),
        gateway.log()
    );
    assert!(
        out.stdout.contains("tls=TLS"),
        "STARTTLS was negotiated: {}",
        out.stdout
    );
}

fn stream_error_for(route_to: SocketAddr, to: &str) -> String {
    let gw = v4(free_port());
    let _gateway =
        Gateway::start(&[listener(gw, &[]), route(&["xmpp.test"], route_to, &[])].concat());
    let answer = exchange(gw, &stream_header(to));
    assert!(
        answer.closed,
        "the gateway closes after the error: {}",
        answer.text()
    );
    answer.text()
}

#[test]
fn unknown_domain_gets_host_unknown() {
    let text = stream_error_for(v4(free_port()), "unknown.test");
    assert!(
        text.contains("<stream:stream"),
        "a stream header first: {text}"
    );
    assert!(text.contains("<stream:error>"), "{text}");
    assert!(text.contains("<host-unknown"), "{text}");
}

#[test]
fn unreachable_backend_gets_remote_connection_failed() {
    let nobody_listens = v4(free_port());
    let text = stream_error_for(nobody_listens, "xmpp.test");
    assert!(text.contains("<stream:error>"), "{text}");
    assert!(text.contains("<remote-connection-failed"), "{text}");
}
