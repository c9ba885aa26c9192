//! Child processes owned by a test: output captured to a log file, bounded
//! waits, signals, and kill + reap on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::net::is_listening;
use crate::netns::pid_listens;
use crate::{WAIT, poll_until};

/// A running peer process. Dropping it kills it (SIGKILL) and reaps it; if
/// the test is failing at that moment, its log is printed.
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Peer {
    /// Spawns `cmd` with stdin closed and stdout + stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Peer {
        let out = File::create(log).expect("create peer log");
        let err = out.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Peer {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            status: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far, without ANSI colour codes.
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits until the log contains `needle`; returns whether it did within
    /// `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.log().contains(needle).then_some(())).is_some()
    }

    /// Waits until one log line contains every needle; returns whether it
    /// did within `timeout`.
    pub fn wait_log_line(&self, needles: &[&str], timeout: Duration) -> bool {
        poll_until(timeout, || {
            self.log()
                .lines()
                .any(|line| needles.iter().all(|n| line.contains(n)))
                .then_some(())
        })
        .is_some()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.pid()).expect("pid fits i32"));
        kill(pid, signal).unwrap_or_else(|e| panic!("kill -{signal} {}: {e}", self.name));
    }

    /// The exit status if the process has exited (reaping it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll_until(timeout, || self.try_exit())
    }

    /// Waits until every port in `ports` listens, failing at once with the
    /// log if the process exits, or after [`WAIT`].
    pub fn wait_listening(&mut self, ports: &[u16]) {
        let ready = poll_until(WAIT, || {
            self.assert_running();
            ports.iter().all(|p| is_listening(*p)).then_some(())
        });
        assert!(
            ready.is_some(),
            "{} not listening on {ports:?} after {WAIT:?}; log:\n{}",
            self.name,
            self.log()
        );
    }

    /// [`Peer::wait_listening`] for a process in another network namespace:
    /// the sockets are read from the process's own `/proc/<pid>/net`.
    pub fn wait_listening_own_ns(&mut self, ports: &[u16]) {
        let pid = self.pid();
        let ready = poll_until(WAIT, || {
            self.assert_running();
            pid_listens(pid, ports).then_some(())
        });
        assert!(
            ready.is_some(),
            "{} not listening on {ports:?} after {WAIT:?}; log:\n{}",
            self.name,
            self.log()
        );
    }

    /// Panics with the log unless the process is still running.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.try_exit() {
            panic!("{} exited ({status}); log:\n{}", self.name, self.log());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn ansi_codes_are_removed() {
        assert_eq!(
            strip_ansi("\u{1b}[2mclient\u{1b}[0m=1 \u{1b}[32m INFO\u{1b}[0m"),
            "client=1  INFO"
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- {} (pid {}) log {} -----\n{}\n----- end of {} log -----",
                self.name,
                self.child.id(),
                self.log.display(),
                self.log(),
                self.name
            );
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip the introducer and parameters up to the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Both streams, for assertions and failure messages.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` to completion with stdin closed, killing it after `timeout`
/// (a panic names the command).
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let status = poll_until(timeout, || child.try_wait().expect("try_wait"));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{cmd:?} did not finish within {timeout:?}; stdout:\n{}\nstderr:\n{}",
            read(&out_path),
            read(&err_path)
        );
    };
    Output {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// [`run`] with the harness-wide bound [`WAIT`].
pub fn run_bounded(cmd: &mut Command) -> Output {
    run(cmd, WAIT)
}
