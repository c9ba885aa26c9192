//! `source = "original"` end to end: a fake gateway on loopback, the
//! tunnel client with a `[tun]` section, and services on the tun addresses
//! that must see the remote client's own address, for IPv4 and IPv6
//! clients (the latter through the other `[tun]` address at the same port).
//!
//! The test creates its own network namespace, re-runs itself inside it
//! (`ip netns exec`) and deletes it at the end, so the host's routes are
//! never touched. Needs root, `/dev/net/tun` and iproute2.

mod common;

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use common::*;
use portico_config::model::{RouteMode, SourceMode, Tun};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Set in the re-run inside the namespace.
const INNER: &str = "PORTICO_ORIGINAL_TEST_INNER";
const DEVICE: &str = "portico-orig";
const TABLE: u32 = 7778;
const SERVICE4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SERVICE6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
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

fn preflight() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let root = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .and_then(|line| line.split_whitespace().nth(2))
        == Some("0");
    ensure!(
        root,
        "TUN delivery needs root (CAP_NET_ADMIN): run this test as root"
    );
    ensure!(
        Path::new("/dev/net/tun").exists(),
        "TUN delivery needs /dev/net/tun: `modprobe tun`, or in a container `--device /dev/net/tun`"
    );
    run("ip", &["-V"]).context("this test needs the ip command: apt-get install iproute2")?;
    Ok(())
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs `body` in a fresh network namespace: outside, creates it and
/// re-runs this test inside; inside, prepares it and runs the body.
fn in_netns<F, Fut>(test: &str, body: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if std::env::var_os(INNER).is_some() {
        for args in [
            &["link", "set", "lo", "up"][..],
            &[
                "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
            ],
            &["link", "set", "uplink1", "up"],
            &["link", "set", "uplink0", "up"],
            &["addr", "add", "192.0.2.1/24", "dev", "uplink0"],
            &[
                "-6",
                "addr",
                "add",
                "2001:db8:ffff::1/64",
                "dev",
                "uplink0",
                "nodad",
            ],
            &["route", "add", "default", "via", "192.0.2.254"],
            &["-6", "route", "add", "default", "via", "2001:db8:ffff::fe"],
        ] {
            run("ip", args)?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        return runtime.block_on(async {
            timeout(GUARD, body())
                .await
                .context("the test body did not finish")?
        });
    }
    preflight()?;
    let ns = Netns(format!("portico-{}-orig", std::process::id()));
    run("ip", &["netns", "add", &ns.0])?;
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(std::env::current_exe()?)
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
        "the test did not run inside {}",
        ns.0
    );
    Ok(())
}

/// Accepts one connection, echoes it to EOF, and returns the peer address
/// the service saw.
fn serve_once(listener: TcpListener) -> JoinHandle<anyhow::Result<SocketAddr>> {
    tokio::spawn(async move {
        let (mut stream, peer) = listener.accept().await?;
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await?;
        stream.write_all(&received).await?;
        stream.shutdown().await?;
        Ok(peer)
    })
}

async fn original_delivery() -> anyhow::Result<()> {
    let pki = pki()?;
    let mut gateway = FakeGateway::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &pki)?;
    let mut config = config(gateway.addr, &pki, TOKEN, Vec::new());
    config.tun = Some(Tun {
        device: DEVICE.to_string(),
        address: Some(SERVICE4),
        address6: Some(SERVICE6),
        routes: RouteMode::Policy,
        table: TABLE,
    });
    let mut client = Client::start(config.clone());
    let session = gateway.next_session().await?;
    // TUN delivery is up (it starts before the first attempt), so the
    // service addresses exist now: bind the services and point
    // `nas.test` at the IPv4 one.
    let listener4 = TcpListener::bind((SERVICE4, 0)).await?;
    let port = listener4.local_addr()?.port();
    let listener6 = TcpListener::bind((SERVICE6, port)).await?;
    let mut nas = service(&["nas.test"], SocketAddr::from((SERVICE4, port)), None);
    nas.source = SourceMode::Original;
    config.services = vec![nas];
    client.configs.send_replace(Arc::new(config));
    loop {
        match client.next_event().await? {
            Seen::Replaced(1) => break,
            Seen::Connected(_) => {}
            other => bail!("unexpected {other:?}"),
        }
    }

    let v4: SocketAddr = "203.0.113.7:40000".parse()?;
    let seen = serve_once(listener4);
    let answer = exchange_with(&session, &header_from("nas.test", v4)?, b"over ipv4").await?;
    assert_eq!(answer, b"over ipv4");
    assert_eq!(seen.await??, v4, "the IPv4 service saw another source");

    let v6: SocketAddr = "[2001:db8::7]:40001".parse()?;
    let seen = serve_once(listener6);
    let answer = exchange_with(&session, &header_from("nas.test", v6)?, b"over ipv6").await?;
    assert_eq!(answer, b"over ipv6");
    assert_eq!(seen.await??, v6, "the IPv6 service saw another source");

    client.stop().await?;
    // Shutting down removed the policy rules of the table.
    for family in ["-4", "-6"] {
        let rules = run("ip", &[family, "rule", "show"])?;
        ensure!(
            !rules.contains(&format!("lookup {TABLE}")),
            "rules left after shutdown: {rules}"
        );
    }
    Ok(())
}

#[test]
fn original_source_reaches_services_from_the_client_address() -> anyhow::Result<()> {
    in_netns(
        "original_source_reaches_services_from_the_client_address",
        original_delivery,
    )
}
