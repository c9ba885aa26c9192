//! The `portico-gateway` binary's command line: `check` on valid and invalid
//! files, usage errors, and a run that starts, serves and stops on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_portico-gateway");

/// Upper bound for the binary to report readiness; a failure bound, not a
/// performance expectation.
const READY_WAIT: Duration = Duration::from_secs(60);

fn write_config(dir: &Path, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("gateway.toml");
    std::fs::File::create(&path)?.write_all(text.as_bytes())?;
    Ok(path)
}

/// Kills the gateway if a test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends `signal` to process `pid` (what `kill -SIG pid` does, without
/// needing the `kill` program).
fn send(pid: u32, signal: Signal) -> anyhow::Result<()> {
    kill(Pid::from_raw(i32::try_from(pid)?), signal)?;
    Ok(())
}

fn gateway(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(BIN).args(args).output()?)
}

/// A valid configuration listening on a loopback port that was free a
/// moment ago (the configuration does not accept port 0).
fn valid() -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(format!(
        "[[listener]]\nbind = \"127.0.0.1:{port}\"\nprotocols = [\"http\", \"tls\"]\n\n\
         [[route]]\nhosts = [\"example.org\", \"*.example.org\"]\nbackend = \"127.0.0.1:9\"\n"
    ))
}

#[test]
fn check_accepts_a_valid_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_config(dir.path(), &valid()?)?;
    let out = gateway(&["check", "--config", &path.to_string_lossy()])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "ok: 1 listeners, 1 routes, 0 tunnels");
    Ok(())
}

#[test]
fn check_rejects_an_invalid_file_with_its_position() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_config(dir.path(), "[[listener]]\nbind = \"not an address\"\n")?;
    let out = gateway(&["check", "--config", &path.to_string_lossy()])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("error:"), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("{}:2:", path.display())),
        "stderr: {stderr}"
    );
    Ok(())
}

#[test]
fn the_demo_configuration_checks() -> anyhow::Result<()> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo.toml");
    let out = gateway(&["check", "--config", &demo.to_string_lossy()])?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok: 1 listeners, 3 routes, 0 tunnels"
    );
    Ok(())
}

#[test]
fn missing_config_is_a_usage_error() -> anyhow::Result<()> {
    let out = gateway(&["check"])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
    let out = gateway(&["--no-such-flag"])?;
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}

#[test]
fn unusable_acme_storage_refuses_to_start_naming_the_path() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A regular file where the storage directory's parent should be.
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"")?;
    let storage = blocker.join("acme");
    let text = format!(
        "{}\n[[route]]\nhosts = [\"app.example.net\"]\nterminate_tls = true\nbackend = \"127.0.0.1:8080\"\n\n\
         [acme]\ndirectory = \"https://127.0.0.1:14000/dir\"\ncontact = \"mailto:ops@example.org\"\n\
         domains = [\"app.example.net\"]\nstorage = \"{}\"\n",
        valid()?,
        storage.display()
    );
    let path = write_config(dir.path(), &text)?;
    let out = gateway(&["--config", &path.to_string_lossy()])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("[acme]") && stderr.contains(&storage.display().to_string()),
        "stderr: {stderr}"
    );
    Ok(())
}

#[test]
fn runs_until_sigterm_and_exits_zero() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_config(dir.path(), &valid()?)?;
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["--config", &path.to_string_lossy(), "--log-level", "info"])
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let stderr = child
        .0
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr pipe"))?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr);
        let mut all = String::new();
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            if line.contains("gateway ready") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            line.clear();
        }
        let mut rest = String::new();
        let _ = lines.read_to_string(&mut rest);
        all + &rest
    });
    let ready = rx.recv_timeout(READY_WAIT);
    let killed = send(child.0.id(), Signal::SIGTERM);
    assert!(killed.is_ok(), "kill -TERM failed: {killed:?}");
    let status = child.0.wait()?;
    let log = reader
        .join()
        .map_err(|_| anyhow::anyhow!("stderr reader panicked"))?;
    assert!(ready.is_ok(), "the gateway never said it was ready:\n{log}");
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(log.contains("stopped"), "log:\n{log}");
    Ok(())
}

/// Sends one HTTP request to `addr` and returns the status line.
fn status_line(addr: &str, host: &str) -> anyhow::Result<String> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(READY_WAIT))?;
    stream.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn sighup_reloads_and_systemd_hears_of_it() -> anyhow::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir()?;
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path)?;
    notify.set_read_timeout(Some(READY_WAIT))?;
    let next_message = || -> anyhow::Result<String> {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf)?;
        let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
        Ok(text.trim_end().to_owned())
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let listen = format!("127.0.0.1:{port}");
    let named_only = format!(
        "[[listener]]\nbind = \"{listen}\"\n\n[[route]]\nhosts = [\"example.org\"]\nbackend = \"{closed}\"\n"
    );
    let path = write_config(dir.path(), &named_only)?;
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["--config", &path.to_string_lossy()])
            .env("NOTIFY_SOCKET", &notify_path)
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let stderr = child
        .0
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr pipe"))?;
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut all);
        all
    });
    let hup = |pid: u32| send(pid, Signal::SIGHUP);
    let result = (|| -> anyhow::Result<()> {
        assert_eq!(next_message()?, "READY=1");
        assert_eq!(
            status_line(&listen, "other.test")?,
            "HTTP/1.1 421 Misdirected Request"
        );

        // An invalid file is rejected and the running routes stay.
        write_config(dir.path(), "[[listener]]\nbind = 5\n")?;
        hup(child.0.id())?;
        assert!(next_message()?.starts_with("RELOADING=1\nMONOTONIC_USEC="));
        assert_eq!(next_message()?, "READY=1");
        assert_eq!(
            status_line(&listen, "other.test")?,
            "HTTP/1.1 421 Misdirected Request"
        );

        // A valid one replaces them: the default route now sends this name
        // to a backend that is down.
        let catch_all = named_only.replace("[\"example.org\"]", "[\"*\"]");
        write_config(dir.path(), &catch_all)?;
        hup(child.0.id())?;
        assert!(next_message()?.starts_with("RELOADING=1"));
        assert_eq!(next_message()?, "READY=1");
        assert_eq!(
            status_line(&listen, "other.test")?,
            "HTTP/1.1 502 Bad Gateway"
        );
        Ok(())
    })();
    let killed = send(child.0.id(), Signal::SIGTERM);
    let stopping = next_message();
    let status = child.0.wait()?;
    let log = reader
        .join()
        .map_err(|_| anyhow::anyhow!("stderr reader panicked"))?;
    result.map_err(|e| anyhow::anyhow!("{e:#}\nlog:\n{log}"))?;
    assert!(killed.is_ok(), "kill -TERM failed: {killed:?}");
    assert_eq!(stopping?, "STOPPING=1");
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(log.contains("reload rejected"), "log:\n{log}");
    assert!(log.contains("configuration reloaded"), "log:\n{log}");
    Ok(())
}
