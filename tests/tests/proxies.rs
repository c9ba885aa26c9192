//! Every TCP connection gets a route, with real clients and servers:
//! OpenSSH and HTTPS (nginx) on one gateway port; a silent client that gets
//! a server-speaks-first daemon's banner (OpenSMTPD, sshd) through
//! `other_after`; a pure port
//! forward (`other_after = "0s"`); curl through `CONNECT` and SOCKS5 with a
//! `[[user]]`, wrong and missing credentials, unrouted names, IP literals and
//! ports; OpenSSH through `nc -X connect` and `nc -X 5`; `allow`/`deny`
//! behind a PROXY header; and hostile proxy input that reaches nobody.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portico_tests::backends::EchoServer;
use portico_tests::certs::TestCa;
use portico_tests::clients::{curl, curl_via};
use portico_tests::config::{listener, route};
use portico_tests::gateway::Gateway;
use portico_tests::net::{
    connect, free_port, proxy_v2_header, read_until_close, send_and_shutdown, v4,
};
use portico_tests::nginx::{Nginx, NginxServer};
use portico_tests::smtpd::Smtpd;
use portico_tests::sshd::Sshd;
use portico_tests::tools::require;

const PASSWORD: &str = "correct-horse-battery";

/// A `[[user]]` alice with an owner-only password file in `dir`.
fn alice(dir: &Path) -> String {
    let file: PathBuf = dir.join("alice.pass");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "[[user]]\nname = \"alice\"\npassword_file = \"{}\"\n\n",
        file.display()
    )
}

fn nginx_https(name: &str) -> (Nginx, SocketAddr, TestCa, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path(), &[name]);
    let addr = v4(free_port());
    let nginx = Nginx::start(&[NginxServer::https("nas", addr, name)], Some(&ca));
    (nginx, addr, ca, certs)
}

#[test]
fn ssh_and_https_share_one_port() {
    let sshd = Sshd::start();
    let (_nginx, web, ca, _certs) = nginx_https("www.test");
    let gw = v4(free_port());
    let _gateway = Gateway::start(
        &[
            listener(gw, &["protocols = [\"tls\", \"ssh\"]"]),
            route(&["www.test"], web, &[]),
            route(&["*"], sshd.addr(), &["protocols = [\"ssh\"]"]),
        ]
        .concat(),
    );
    require("nc", "netcat-openbsd");
    let out = sshd.ssh(
        "anything",
        &format!("nc {} {}", gw.ip(), gw.port()),
        "echo ok",
    );
    assert!(
        out.status.success() && out.stdout.trim() == "ok",
        "{}\nsshd log:\n{}",
        out.all(),
        sshd.log()
    );
    let ca = ca.ca();
    let out = curl_via(
        gw,
        &format!("https://www.test:{}/", gw.port()),
        "www.test",
        &["--cacert", ca.to_str().unwrap()],
    );
    assert!(
        out.stdout.contains("backend=nas ") && out.stdout.contains("status=200"),
        "{}",
        out.all()
    );
}

#[test]
fn a_silent_client_gets_opensmtpds_banner_through_other_after() {
    let smtpd = Smtpd::start();
    let gw = v4(free_port());
    let _gateway = Gateway::start(
        &[
            listener(
                gw,
                &[
                    "protocols = [\"tls\", \"other\"]",
                    "other_after = \"300ms\"",
                ],
            ),
            route(&["*"], smtpd.addr(), &["protocols = [\"other\"]"]),
        ]
        .concat(),
    );
    // The client waits for the greeting, as SMTP clients do.
    let mut stream = connect(gw);
    let mut greeting = Vec::new();
    let mut byte = [0u8; 1];
    while !greeting.ends_with(b"\r\n") && greeting.len() < 512 {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        greeting.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&greeting).into_owned();
    assert!(
        text.starts_with("220 ") && text.contains("ESMTP OpenSMTPD"),
        "greeting {text:?}\nsmtpd log:\n{}",
        smtpd.log()
    );
    stream.write_all(b"EHLO client.test\r\n").unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 1024];
    // The last line of a multi-line reply starts with "250 ".
    while !String::from_utf8_lossy(&reply)
        .lines()
        .any(|l| l.starts_with("250 "))
    {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
        }
    }
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(reply.starts_with("250"), "{reply}");
    stream.write_all(b"QUIT\r\n").unwrap();
    let rest = read_until_close(&mut stream, Duration::from_secs(5), 4096);
    assert!(rest.text().starts_with("221"), "{}", rest.text());
}

#[test]
fn a_silent_client_gets_the_servers_banner_through_other_after() {
    // sshd speaks first: its identification line arrives before the client
    // sends a byte, like SMTP's 220 greeting.
    let sshd = Sshd::start();
    let echo = EchoServer::start();
    let gw = v4(free_port());
    let _gateway = Gateway::start(
        &[
            listener(
                gw,
                &[
                    "protocols = [\"http\", \"other\"]",
                    "other_after = \"300ms\"",
                ],
            ),
            route(&["web.test"], echo.addr(), &[]),
            route(&["*"], sshd.addr(), &["protocols = [\"other\"]"]),
        ]
        .concat(),
    );
    let mut stream = connect(gw);
    let got = read_until_close(&mut stream, Duration::from_secs(5), 64);
    assert!(
        got.text().starts_with("SSH-2.0-OpenSSH"),
        "banner: {:?}\nsshd log:\n{}",
        got.text(),
        sshd.log()
    );
    // A client that speaks first is still sniffed and routed by name.
    let answer = send_and_shutdown(gw, b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n");
    assert!(
        answer.text().starts_with("GET / HTTP/1.1"),
        "{}",
        answer.text()
    );
}

#[test]
fn a_zero_other_after_listener_is_a_pure_port_forward() {
    let web = v4(free_port());
    let _nginx = Nginx::start(&[NginxServer::http("plain", web)], None);
    let gw = v4(free_port());
    let _gateway = Gateway::start(
        &[
            listener(gw, &["protocols = [\"other\"]", "other_after = \"0s\""]),
            route(&["*"], web, &["protocols = [\"other\"]"]),
        ]
        .concat(),
    );
    let out = curl(&[&format!("http://127.0.0.1:{}/", gw.port())]);
    assert!(
        out.status.success() && out.stdout.contains("backend=plain "),
        "{}",
        out.all()
    );
}

/// A gateway with a CONNECT/SOCKS5 listener and a route for `nas.test`
/// (users = alice) to `backend`.
fn proxy_gateway(
    dir: &Path,
    backend: SocketAddr,
    listener_extra: &[&str],
) -> (Gateway, SocketAddr) {
    let gw = v4(free_port());
    let mut extra = vec!["protocols = [\"connect\", \"socks5\"]"];
    extra.extend_from_slice(listener_extra);
    let gateway = Gateway::start(
        &[
            listener(gw, &extra),
            alice(dir),
            route(
                &["nas.test"],
                backend,
                &[
                    "protocols = [\"connect\", \"socks5\"]",
                    "users = [\"alice\"]",
                ],
            ),
        ]
        .concat(),
    );
    (gateway, gw)
}

#[test]
fn curl_through_connect_and_socks5_with_a_user() {
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, nas, ca, _certs) = nginx_https("nas.test");
    let (gateway, gw) = proxy_gateway(dir.path(), nas, &[]);
    let ca = ca.ca();
    let ca = ca.to_str().unwrap();
    let url = format!("https://nas.test:{}/", nas.port());
    let http_proxy = format!("http://{gw}");
    let socks = gw.to_string();
    let right = format!("alice:{PASSWORD}");
    let fetch = |extra: &[&str], target: &str| {
        let mut args = vec!["--cacert", ca, "-w", "\nstatus=%{http_code}\n"];
        args.extend_from_slice(extra);
        args.push(target);
        curl(&args)
    };
    for proxy in [
        vec!["--proxy", &http_proxy, "--proxy-user", &right],
        vec!["--socks5-hostname", &socks, "--proxy-user", &right],
    ] {
        let out = fetch(&proxy, &url);
        assert!(
            out.status.success() && out.stdout.contains("backend=nas "),
            "{proxy:?}: {}\n{}",
            out.all(),
            gateway.log()
        );
    }
    // Wrong or missing credentials.
    let wrong = "alice:guess".to_owned();
    let out = fetch(&["--proxy", &http_proxy, "--proxy-user", &wrong], &url);
    assert!(
        !out.status.success() && out.stderr.contains("407"),
        "{}",
        out.all()
    );
    let out = fetch(&["--proxy", &http_proxy], &url);
    assert!(
        !out.status.success() && out.stderr.contains("407"),
        "{}",
        out.all()
    );
    let out = fetch(&["--socks5-hostname", &socks, "--proxy-user", &wrong], &url);
    assert!(!out.status.success(), "{}", out.all());
    // Unrouted names, IP literals, ports the route does not admit.
    for target in [
        format!("https://other.test:{}/", nas.port()),
        format!("https://127.0.0.1:{}/", nas.port()),
        "https://nas.test:22/".to_owned(),
    ] {
        let out = fetch(&["--proxy", &http_proxy, "--proxy-user", &right], &target);
        assert!(
            !out.status.success() && out.stderr.contains("403"),
            "{target}: {}",
            out.all()
        );
        let out = fetch(
            &["--socks5-hostname", &socks, "--proxy-user", &right],
            &target,
        );
        assert!(!out.status.success(), "{target}: {}", out.all());
    }
}

#[test]
fn ssh_through_nc_connect_and_socks5() {
    let sshd = Sshd::start();
    let gw = v4(free_port());
    let _gateway = Gateway::start(
        &[
            listener(gw, &["protocols = [\"connect\", \"socks5\"]"]),
            route(
                &["ssh.test"],
                sshd.addr(),
                &[
                    "protocols = [\"connect\", \"socks5\"]",
                    &format!("ports = [{}]", sshd.addr().port()),
                ],
            ),
        ]
        .concat(),
    );
    require("nc", "netcat-openbsd");
    let port = sshd.addr().port();
    for kind in ["connect", "5"] {
        let proxy = format!("nc -X {kind} -x {gw} %h {port}");
        let out = sshd.ssh("ssh.test", &proxy, "echo via-proxy");
        assert!(
            out.status.success() && out.stdout.trim() == "via-proxy",
            "nc -X {kind}: {}\nsshd log:\n{}",
            out.all(),
            sshd.log()
        );
    }
}

#[test]
fn deny_is_judged_on_the_address_a_proxy_header_carries() {
    let echo = EchoServer::start();
    let gw = v4(free_port());
    let _gateway = Gateway::start(
        &[
            listener(gw, &["accept_proxy = [\"127.0.0.0/8\"]"]),
            route(
                &["web.test"],
                echo.addr(),
                &["allow = [\"192.0.2.0/24\"]", "deny = [\"192.0.2.66/32\"]"],
            ),
        ]
        .concat(),
    );
    let request = b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n";
    let from = |client: &str| {
        let mut data = proxy_v2_header(client.parse().unwrap(), gw);
        data.extend_from_slice(request);
        send_and_shutdown(gw, &data)
    };
    assert!(from("192.0.2.7:4000").text().starts_with("GET / HTTP/1.1"));
    let denied = from("192.0.2.66:4000");
    assert!(
        denied.text().starts_with("HTTP/1.1 403 Forbidden"),
        "{}",
        denied.text()
    );
    let outside = from("198.51.100.1:4000");
    assert!(
        outside.text().starts_with("HTTP/1.1 403 Forbidden"),
        "{}",
        outside.text()
    );
    assert_eq!(
        echo.accepted(),
        1,
        "only the allowed client reached the backend"
    );
}

#[test]
fn hostile_proxy_input_is_answered_and_reaches_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let routed = EchoServer::start();
    let unconfigured = EchoServer::start();
    let (mut gateway, gw) = proxy_gateway(dir.path(), routed.addr(), &["peek_timeout = \"1s\""]);
    let target = unconfigured.addr();
    let cases: Vec<Vec<u8>> = vec![
        vec![5],                                 // truncated greeting
        vec![5, 2, 0],                           // greeting shorter than it says
        vec![5, 0],                              // no methods
        vec![5, 1, 0, 5, 1, 0, 3, 200, b'a'],    // domain length past the end
        vec![5, 1, 0, 5, 9, 0, 1, 127, 0, 0, 1], // bogus command
        {
            // An unconfigured target by IP literal.
            let mut r = vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1];
            r.extend_from_slice(&target.port().to_be_bytes());
            r
        },
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").into_bytes(),
        {
            let mut head = b"CONNECT nas.test:1 HTTP/1.1\r\nX-Fill: ".to_vec();
            head.extend(std::iter::repeat_n(b'x', 64 * 1024));
            head
        },
    ];
    for case in &cases {
        let mut stream = connect(gw);
        let _ = stream.write_all(case);
        let got = read_until_close(&mut stream, Duration::from_secs(5), 4096);
        assert!(got.closed, "{case:?} is closed in time");
    }
    // 1,000 failed logins from one address: all answered, then blocked.
    let wrong = {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode("alice:guess");
        format!(
            "CONNECT nas.test:{} HTTP/1.1\r\nProxy-Authorization: Basic {token}\r\n\r\n",
            routed.addr().port()
        )
    };
    for _ in 0..1000 {
        let answer = send_and_shutdown(gw, wrong.as_bytes());
        assert!(
            answer.text().starts_with("HTTP/1.1 407 "),
            "{}",
            answer.text()
        );
    }
    let right = {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
        format!(
            "CONNECT nas.test:{} HTTP/1.1\r\nProxy-Authorization: Basic {token}\r\n\r\n",
            routed.addr().port()
        )
    };
    let answer = send_and_shutdown(gw, right.as_bytes());
    assert!(
        answer.text().starts_with("HTTP/1.1 407 "),
        "blocked: {}",
        answer.text()
    );
    gateway.assert_running();
    assert_eq!(
        unconfigured.accepted(),
        0,
        "nothing reached an unconfigured target"
    );
    assert_eq!(routed.accepted(), 0, "no failed login reached the backend");
    let mut stream = connect(gw);
    stream.write_all(&[5, 1, 0]).unwrap();
    let mut reply = [0u8; 2];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [5, 0], "the gateway still answers");
}
