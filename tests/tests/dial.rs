//! The dial line through the real gateway: `DIAL name` reaches the routed
//! backend with every following byte unchanged; a dial to an unrouted name is
//! closed and no backend sees a connection. Also OpenSSH through a
//! `ProxyCommand` that sends the dial line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use portico_tests::backends::EchoServer;
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{free_port, send_and_shutdown, v4};
use portico_tests::sshd::Sshd;
use portico_tests::tools::require;

#[test]
fn dial_line_reaches_the_routed_backend_untouched() {
    let echo = EchoServer::start();
    let gw = v4(free_port());
    let _gateway =
        Gateway::start(&[listener(gw, &[]), route(&["echo.test"], echo.addr(), &[])].concat());
    // Bytes that would look like other protocols must pass unchanged.
    let payload: Vec<u8> = b"GET / HTTP/1.1\r\n\r\n\x16\x03\x01"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(100_000))
        .collect();
    for line in ["DIAL echo.test\n", "DIAL Echo.Test\r\n"] {
        let mut data = line.as_bytes().to_vec();
        data.extend_from_slice(&payload);
        let answer = send_and_shutdown(gw, &data);
        assert!(answer.closed, "closed after the echo ended");
        assert_eq!(answer.bytes.len(), payload.len(), "{line:?}");
        assert!(
            answer.bytes == payload,
            "{line:?}: bytes changed on the way"
        );
    }
    assert_eq!(echo.accepted(), 2);
}

#[test]
fn dial_to_an_unrouted_name_is_closed_and_reaches_nobody() {
    let echo = EchoServer::start();
    let gw = v4(free_port());
    let _gateway =
        Gateway::start(&[listener(gw, &[]), route(&["echo.test"], echo.addr(), &[])].concat());
    for line in [
        "DIAL nowhere.test\n",
        "DIAL 127.0.0.1\n",
        "DIAL sub.echo.test\n",
    ] {
        let mut data = line.as_bytes().to_vec();
        data.extend_from_slice(b"hello");
        let answer = send_and_shutdown(gw, &data);
        assert!(answer.closed, "{line:?} is closed");
        assert!(
            answer.bytes.is_empty(),
            "{line:?}: no reply: {:?}",
            answer.text()
        );
    }
    // A routed dial afterwards proves the listener worked all along.
    let answer = send_and_shutdown(gw, b"DIAL echo.test\nhello");
    assert_eq!(answer.text(), "hello");
    assert_eq!(
        echo.accepted(),
        1,
        "only the routed dial reached the backend"
    );
}

#[test]
fn ssh_reaches_sshd_through_a_dial_proxy_command() {
    let sshd = Sshd::start();
    let gw = v4(free_port());
    let _gateway =
        Gateway::start(&[listener(gw, &[]), route(&["ssh.test"], sshd.addr(), &[])].concat());
    require("nc", "netcat-openbsd");
    let proxy = format!(
        "sh -c '(printf \"DIAL %h\\n\"; cat) | nc {} {}'",
        gw.ip(),
        gw.port()
    );
    let out = sshd.ssh("ssh.test", &proxy, "echo through-the-gateway");
    assert!(
        out.status.success() && out.stdout.trim() == "through-the-gateway",
        "{}\nsshd log:\n{}",
        out.all(),
        sshd.log()
    );
}
