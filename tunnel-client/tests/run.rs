//! The `portico-tunnel` binary in run mode: it starts, keeps running while
//! the gateway is unreachable, rejects a broken configuration on SIGHUP
//! and keeps going, tells systemd when its session is up, and on SIGTERM
//! closes the session and exits 0.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_portico-tunnel");
/// A bound on every wait, so a stuck process fails the test instead of
/// hanging it. Never reached when things work.
const GUARD: Duration = Duration::from_secs(60);

/// Writes a configuration for a gateway on 127.0.0.1:`port` whose
/// certificate `ca_pem` is.
fn write_config_for(dir: &Path, port: u16, ca_pem: &str) -> anyhow::Result<std::path::PathBuf> {
    std::fs::write(dir.join("ca.pem"), ca_pem)?;
    let token = dir.join("home.token");
    let mut line = common::TOKEN.to_vec();
    line.push(b'\n');
    std::fs::write(&token, line)?;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600))?;
    let path = dir.join("tunnel.toml");
    std::fs::File::create(&path)?.write_all(
        format!(
            "gateway = \"127.0.0.1:{port}\"\nname = \"home\"\ntoken_file = \"home.token\"\n\
             ca = \"ca.pem\"\n\n[[service]]\nhosts = [\"*\"]\nto = \"127.0.0.1:9\"\n"
        )
        .as_bytes(),
    )?;
    Ok(path)
}

/// Writes a configuration for a gateway on `port` where nothing answers.
fn write_config(dir: &Path, port: u16) -> anyhow::Result<std::path::PathBuf> {
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?.self_signed(&key)?;
    write_config_for(dir, port, &cert.pem())
}

/// Stderr lines of a running child, as they come.
fn stderr_lines(child: &mut Child) -> anyhow::Result<mpsc::Receiver<String>> {
    let stderr = child.stderr.take().context("no stderr")?;
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Ok(lines)
}

/// Waits for a line containing `needle`; returns every line read.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(GUARD) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return Ok(seen);
                }
            }
            Err(_) => bail!("no line with {needle:?} in:\n{}", seen.join("\n")),
        }
    }
}

/// Sends `signal` to `child` (what `kill -SIG pid` does, without needing
/// the `kill` program).
fn signal(child: &Child, signal: Signal) -> anyhow::Result<()> {
    kill(Pid::from_raw(i32::try_from(child.id())?), signal)
        .with_context(|| format!("kill -{signal} {}", child.id()))?;
    Ok(())
}

#[test]
fn runs_until_sigterm_and_survives_a_bad_reload() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A port nothing answers on: the client keeps trying in the background.
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let path = write_config(dir.path(), silent.local_addr()?.port())?;
    let mut child = Command::new(BIN)
        .args(["--config", &path.to_string_lossy(), "--log-level", "info"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let lines = stderr_lines(&mut child)?;
    wait_for(&lines, "tunnel client starting")?;

    std::fs::write(&path, "gateway = 7\n")?;
    signal(&child, Signal::SIGHUP)?;
    wait_for(&lines, "reload rejected; keeping the running configuration")?;

    signal(&child, Signal::SIGTERM)?;
    let seen = wait_for(&lines, "stopped")?;
    let status = child.wait()?;
    assert_eq!(status.code(), Some(0), "{}", seen.join("\n"));
    drop(silent);
    Ok(())
}

#[test]
fn invalid_log_level_is_a_usage_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_config(dir.path(), 9)?;
    let out = Command::new(BIN)
        .args(["--config", &path.to_string_lossy(), "--log-level", "=bad="])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level"));
    Ok(())
}

#[tokio::test]
async fn notifies_readiness_and_closes_the_session_on_sigterm() -> anyhow::Result<()> {
    let pki = common::pki()?;
    let mut gateway = common::FakeGateway::start((Ipv4Addr::LOCALHOST, 0).into(), &pki)?;
    let dir = tempfile::tempdir()?;
    let ca_pem = std::fs::read_to_string(pki.ca.path())?;
    let path = write_config_for(dir.path(), gateway.addr.port(), &ca_pem)?;
    let notify_path = dir.path().join("notify.sock");
    let notify = tokio::net::UnixDatagram::bind(&notify_path)?;
    let mut child = Command::new(BIN)
        .args(["--config", &path.to_string_lossy()])
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let lines = stderr_lines(&mut child)?;
    let session = gateway.next_session().await?;
    let mut message = vec![0u8; 4096];
    let len = tokio::time::timeout(GUARD, notify.recv(&mut message))
        .await
        .context("no readiness notification")??;
    let message = String::from_utf8_lossy(message.get(..len).unwrap_or_default()).into_owned();
    assert!(message.contains("READY=1"), "{message:?}");

    signal(&child, Signal::SIGTERM)?;
    match tokio::time::timeout(GUARD, session.connection.closed()).await? {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(
                close.error_code.into_inner(),
                u64::from(portico_link::codes::CLOSE_NORMAL)
            );
        }
        other => bail!("expected a normal close, got {other:?}"),
    }
    let seen = tokio::task::spawn_blocking(move || wait_for(&lines, "stopped")).await??;
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert_eq!(status.code(), Some(0), "{}", seen.join("\n"));
    Ok(())
}
