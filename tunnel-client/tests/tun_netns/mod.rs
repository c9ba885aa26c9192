//! Runs a test body inside a network namespace the test creates: the
//! outer run creates the namespace and re-runs the test binary inside it
//! with `ip netns exec`; the inner run prepares the namespace and runs the
//! body on a tokio runtime. The namespace is deleted even on failure.

use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};

/// Set in the re-run inside the namespace.
const INNER: &str = "PORTICO_TUN_TEST_INNER";

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn create(test: &str) -> anyhow::Result<Self> {
        let name = format!("portico-{}-{test}", std::process::id());
        run("ip", &["netns", "add", &name])?;
        Ok(Self(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program} (apt-get install iproute2)"))?;
    ensure!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn ip(args: &[&str]) -> anyhow::Result<String> {
    run("ip", args)
}

fn preflight() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    ensure!(
        root,
        "TUN delivery tests need root (CAP_NET_ADMIN): run them as root"
    );
    ensure!(
        Path::new("/dev/net/tun").exists(),
        "TUN delivery tests need /dev/net/tun: `modprobe tun`, or in a container `--device /dev/net/tun`"
    );
    run("ip", &["-V"])
        .context("TUN delivery tests need the ip command: apt-get install iproute2")?;
    Ok(())
}

/// Runs `body` in a fresh network namespace: outside, creates the namespace
/// and re-runs this test inside it; inside, prepares the namespace and runs.
pub fn in_netns<F, Fut>(test: &str, body: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if std::env::var_os(INNER).is_some() {
        prepare_namespace()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        return runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), body())
                .await
                .context("test body did not finish within 60 s")?
        });
    }
    preflight()?;
    let ns = Netns::create(test)?;
    let exe = std::env::current_exe()?;
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    ensure!(
        out.status.success(),
        "the test failed inside namespace {}",
        ns.0
    );
    ensure!(
        stdout.contains("1 passed"),
        "the test did not run inside namespace {}",
        ns.0
    );
    Ok(())
}

/// `lo` up, and a veth uplink with default routes, so that `ip route get`
/// has an answer that is not the TUN.
fn prepare_namespace() -> anyhow::Result<()> {
    ip(&["link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
    ])?;
    ip(&["link", "set", "uplink1", "up"])?;
    ip(&["link", "set", "uplink0", "up"])?;
    ip(&["addr", "add", "192.0.2.1/24", "dev", "uplink0"])?;
    ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:ffff::1/64",
        "dev",
        "uplink0",
        "nodad",
    ])?;
    ip(&["route", "add", "default", "via", "192.0.2.254"])?;
    ip(&["-6", "route", "add", "default", "via", "2001:db8:ffff::fe"])?;
    Ok(())
}
