//! Operating the real gateway: SIGHUP reloads routes without disturbing open
//! transfers and keeps the old configuration when the new one is broken;
//! SIGTERM drains, then exits 0 (at the latest after `shutdown_grace`); the
//! admin endpoint answers; `check` accepts the shipped examples.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;

use nix::sys::signal::Signal;
use portico_tests::WAIT;
use portico_tests::backends::EchoServer;
use portico_tests::binaries::binary;
use portico_tests::clients::curl;
use portico_tests::config::{limits, listener, route};
use portico_tests::gateway::{Gateway, check};
use portico_tests::net::{connect, eventually, free_port, is_listening, read_until_close, v4};
use portico_tests::process::run_bounded;

/// Dials `svc.test` through `gw` and returns the stream and the banner line.
fn dial(gw: SocketAddr) -> (TcpStream, String) {
    let mut stream = connect(gw);
    stream.write_all(b"DIAL svc.test\n").unwrap();
    // The banner is the first thing the backend sends; read it a byte at a
    // time so nothing after it is consumed here.
    let mut banner = String::new();
    let mut byte = [0u8; 1];
    while !banner.ends_with('\n') && banner.len() < 64 {
        match stream.read(&mut byte) {
            Ok(1) => banner.push(char::from(byte[0])),
            _ => break,
        }
    }
    (stream, banner.trim_end().to_owned())
}

/// Sends `rounds` chunks of 16 KiB and reads each back, checking every byte.
fn echo_rounds(stream: &mut TcpStream, rounds: usize, seed: u8) {
    for round in 0..rounds {
        let chunk: Vec<u8> = (0..16 * 1024)
            .map(|i: usize| {
                (i as u8)
                    .wrapping_mul(31)
                    .wrapping_add(seed)
                    .wrapping_add(round as u8)
            })
            .collect();
        stream.write_all(&chunk).unwrap();
        let mut back = vec![0u8; chunk.len()];
        stream.read_exact(&mut back).unwrap();
        assert!(back == chunk, "round {round}: echoed bytes differ");
    }
}

fn svc_config(gw: SocketAddr, backend: SocketAddr, extra: &str) -> String {
    [
        listener(gw, &[]),
        route(&["svc.test"], backend, &[]),
        extra.to_owned(),
    ]
    .concat()
}

#[test]
fn reload_swaps_routes_while_an_open_transfer_continues() {
    let (old, new) = (
        EchoServer::with_banner("old"),
        EchoServer::with_banner("new"),
    );
    let gw = v4(free_port());
    let mut gateway = Gateway::start(&svc_config(gw, old.addr(), ""));
    let (mut transfer, banner) = dial(gw);
    assert_eq!(banner, "old");
    echo_rounds(&mut transfer, 32, 1);

    gateway.reload(&svc_config(gw, new.addr(), ""));
    let mut old_route_dials = 0;
    assert!(
        eventually(|| {
            // Dials racing the reload may still reach the old route.
            let banner = dial(gw).1;
            old_route_dials += usize::from(banner == "old");
            banner == "new"
        }),
        "new connections reach the new route; log:\n{}",
        gateway.log()
    );
    echo_rounds(&mut transfer, 32, 2);
    transfer.shutdown(std::net::Shutdown::Write).unwrap();
    let rest = read_until_close(&mut transfer, WAIT, 1024);
    assert!(rest.closed && rest.bytes.is_empty(), "{rest:?}");
    assert_eq!(
        old.accepted(),
        1 + old_route_dials,
        "only the transfer and dials racing the reload reached the old backend"
    );
    gateway.assert_running();
}

#[test]
fn broken_reload_keeps_the_old_configuration_and_logs_why() {
    let echo = EchoServer::with_banner("kept");
    let gw = v4(free_port());
    let mut gateway = Gateway::start(&svc_config(gw, echo.addr(), ""));
    let before = gateway.log().len();
    gateway.reload("[[listener]]\nbind = \"127.0.0.1:1\"\nbogus_key = true\n[[route\n");
    let logged = eventually(|| {
        let log = gateway.log();
        let new = log.get(before..).unwrap_or_default().to_ascii_lowercase();
        (new.contains("error") || new.contains("warn"))
            && (new.contains("gateway.toml") || new.contains("reload"))
    });
    assert!(logged, "the failed reload is logged:\n{}", gateway.log());
    gateway.assert_running();
    assert_eq!(dial(gw).1, "kept", "the old route still serves");
    assert!(!is_listening(1));
}

#[test]
fn sigterm_drains_open_connections_and_exits_0() {
    let echo = EchoServer::with_banner("svc");
    let gw = v4(free_port());
    // A grace far beyond the harness bound: only the drain can end it in time.
    let toml = svc_config(gw, echo.addr(), &limits(&["shutdown_grace = \"600s\""]));
    let mut gateway = Gateway::start(&toml);
    let (mut open, _) = dial(gw);
    echo_rounds(&mut open, 2, 3);
    gateway.signal(Signal::SIGTERM);
    assert!(eventually(|| !is_listening(gw.port())), "stops accepting");
    echo_rounds(&mut open, 2, 4);
    open.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_until_close(&mut open, WAIT, 1024).closed);
    let status = gateway.wait_exit(WAIT).expect("exits once drained");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        gateway.log()
    );
}

#[test]
fn sigterm_closes_a_stuck_connection_after_the_grace_and_exits_0() {
    let echo = EchoServer::with_banner("svc");
    let gw = v4(free_port());
    let toml = svc_config(gw, echo.addr(), &limits(&["shutdown_grace = \"1s\""]));
    let mut gateway = Gateway::start(&toml);
    let (mut stuck, _) = dial(gw);
    gateway.signal(Signal::SIGTERM);
    let status = gateway.wait_exit(WAIT).expect("exits after the grace");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        gateway.log()
    );
    assert!(
        read_until_close(&mut stuck, WAIT, 1024).closed,
        "the stuck connection is closed"
    );
}

#[test]
fn admin_endpoint_serves_metrics_status_and_health() {
    let echo = EchoServer::with_banner("svc");
    let (gw, admin) = (v4(free_port()), v4(free_port()));
    let toml = svc_config(gw, echo.addr(), &format!("[admin]\nbind = \"{admin}\"\n"));
    let _gateway = Gateway::start(&toml);
    let (mut conn, _) = dial(gw);
    echo_rounds(&mut conn, 1, 5);
    drop(conn);

    let get = |path: &str| {
        let out = curl(&[
            "-w",
            "\nstatus=%{http_code}\n",
            &format!("http://{admin}{path}"),
        ]);
        assert!(out.status.success(), "{path}: {}", out.all());
        assert!(out.stdout.contains("status=200"), "{path}: {}", out.all());
        out.stdout
    };
    get("/healthz");
    let status = get("/status");
    assert!(status.trim_start().starts_with('{'), "JSON: {status}");
    assert!(
        eventually(|| {
            get("/metrics").lines().any(|l| {
                l.starts_with("portico_connections_total{")
                    && l.contains("outcome=\"forwarded\"")
                    && !l.ends_with(" 0")
            })
        }),
        "the forwarded connection is counted:\n{}",
        get("/metrics")
    );
}

#[test]
fn check_accepts_the_examples_and_rejects_a_broken_file() {
    // Work on a copy with owner-only token files: git does not keep file
    // modes, and `check` refuses token files that others can read.
    let copy = tempfile::tempdir().unwrap();
    let examples = copy.path().to_path_buf();
    copy_examples(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples"),
        &examples,
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap_or_else(|e| panic!("{}: {e}", examples.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples/*.toml");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        let out = if name.contains("tunnel") {
            run_bounded(
                Command::new(binary("portico-tunnel"))
                    .arg("check")
                    .arg("--config")
                    .arg(file),
            )
        } else {
            check(file)
        };
        assert!(out.status.success(), "check {name}: {}", out.all());
    }

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[[listener]]\nbind = \"127.0.0.1:8080\"\nno_such_setting = 1\n",
    )
    .unwrap();
    let out = check(&broken);
    assert_eq!(out.status.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains("no_such_setting"),
        "the error names the key: {}",
        out.all()
    );
}

/// Copies `from` (one level of subfolders) into `to`, making every file in
/// a `tokens` folder owner-only.
fn copy_examples(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_examples(&entry.path(), &target);
            if entry.file_name() == "tokens" {
                for token in std::fs::read_dir(&target).unwrap() {
                    let path = token.unwrap().path();
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .unwrap();
                }
            }
        } else {
            std::fs::create_dir_all(to).unwrap();
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
