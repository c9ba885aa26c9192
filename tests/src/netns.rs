//! Network namespaces a test creates and always deletes: a [`Netns`] per
//! host, the three-host [`Topology`] of the tunnel tests
//! (`client` ↔ `gw` ↔ `backend`, documentation address ranges only), and
//! [`in_netns`], which runs an in-process test body inside a namespace of
//! its own (for the TUN delivery tests of `portico-tunnel` as a library).
//!
//! Veths are created inside the namespaces (`ip -n NS link add … peer …
//! netns OTHER`), so nothing ever appears in the host's own namespace.
//! Commands run inside a namespace with `ip netns exec`, which keeps the
//! process id: `/proc/<pid>/net/tcp` then shows that namespace's sockets.

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use socket2::{Domain, Socket, Type};

use crate::process::{Output, run, run_bounded};
use crate::tools::require;
use crate::{WAIT, poll_until};

/// The client host's address on the client ↔ gateway link.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The client host's IPv6 address on the client ↔ gateway link.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// The gateway's public address (clients connect here).
pub const GW_PUBLIC_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The gateway's public IPv6 address.
pub const GW_PUBLIC_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
/// The gateway's address on the gateway ↔ backend link (tunnel endpoint).
pub const GW_LINK_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The backend host's address on the gateway ↔ backend link.
pub const BACKEND_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// Name of the veth end in `gw` that faces `backend` (same name in every
/// topology: interface names are per namespace).
pub const GW_TO_BACKEND: &str = "veth-b";
/// Name of the veth end in `backend` that faces `gw`.
pub const BACKEND_TO_GW: &str = "veth-g";

/// Numbers the namespaces of this process, so concurrent tests never share
/// a name.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Fails, with what to do, unless this process can create namespaces and
/// TUN devices: root, `/dev/net/tun`, and the `ip` command.
pub fn preflight() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    assert!(
        root,
        "the tunnel tests create network namespaces and a TUN device: run them as root"
    );
    assert!(
        Path::new("/dev/net/tun").exists(),
        "the tunnel tests need /dev/net/tun: `modprobe tun`, or in a container `--device /dev/net/tun`"
    );
    require("ip", "iproute2");
}

/// A network namespace with `lo` up; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `pt<pid>-<n>-<role>` and brings its `lo` up.
    pub fn create(role: &str) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("pt{}-{n}-{role}", std::process::id());
        ip_ok(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(require("ip", "iproute2"));
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `program args` inside the namespace, bounded by `timeout`.
    pub fn run(&self, program: &str, args: &[&str], timeout: Duration) -> Output {
        run(self.command(program).args(args), timeout)
    }

    /// `ip -n NS args`, which must succeed; returns its standard output.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip_ok(&all)
    }

    /// `sysctl -w key=value` inside the namespace, which must succeed.
    pub fn sysctl(&self, key: &str, value: &str) {
        let out = run(
            self.command(require("sysctl", "procps"))
                .args(["-w", &format!("{key}={value}")]),
            WAIT,
        );
        assert!(out.status.success(), "sysctl {key}={value}: {}", out.all());
    }

    /// Runs `f` on a thread that has entered this namespace, and returns
    /// its result. Sockets made there stay in the namespace (for clients
    /// and listeners of the test itself).
    pub fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|_| panic!("the thread in namespace {} panicked", self.name))
    }

    /// A TCP connection made in this namespace from `source` (port 0: any)
    /// to `dest`, with `timeout` on connect, reads and writes.
    pub fn connect(
        &self,
        source: SocketAddr,
        dest: SocketAddr,
        timeout: Duration,
    ) -> std::io::Result<TcpStream> {
        self.within(move || {
            let socket = Socket::new(Domain::for_address(dest), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.bind(&source.into())?;
            socket.connect_timeout(&dest.into(), timeout)?;
            let stream: TcpStream = socket.into();
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            Ok(stream)
        })
    }

    /// A TCP listener bound in this namespace.
    pub fn listen(&self, addr: SocketAddr) -> TcpListener {
        self.within(move || TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}")))
    }

    /// Whether a TCP listener on `port` exists in this namespace (read
    /// from its `/proc/net/tcp*`, no connection made).
    pub fn is_listening(&self, port: u16) -> bool {
        let out = self.run("cat", &["/proc/net/tcp", "/proc/net/tcp6"], WAIT);
        listens(&out.stdout, port)
    }

    /// Waits until every port in `ports` listens in this namespace; panics
    /// naming `what` after [`WAIT`].
    pub fn wait_listening(&self, what: &str, ports: &[u16]) {
        let ok = poll_until(WAIT, || {
            ports.iter().all(|p| self.is_listening(*p)).then_some(())
        });
        assert!(
            ok.is_some(),
            "{what} is not listening on {ports:?} in {} after {WAIT:?}",
            self.name
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_bounded(Command::new("ip").args(["netns", "del", &self.name]));
    }
}

/// `ip args`, which must succeed; returns its standard output.
fn ip_ok(args: &[&str]) -> String {
    let out = run_bounded(Command::new(require("ip", "iproute2")).args(args));
    assert!(out.status.success(), "ip {}: {}", args.join(" "), out.all());
    out.stdout
}

/// Whether the `/proc/net/tcp*` text `table` has a LISTEN socket on `port`.
pub fn listens(table: &str, port: u16) -> bool {
    let wanted = format!(":{port:04X}");
    table.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or_default();
        let state = fields.nth(1).unwrap_or_default();
        state == "0A" && local.ends_with(&wanted)
    })
}

/// Whether the process `pid` (in whatever namespace it runs) has a TCP
/// listener on every port in `ports`.
pub fn pid_listens(pid: u32, ports: &[u16]) -> bool {
    let table: String = ["tcp", "tcp6"]
        .iter()
        .map(|f| std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default())
        .collect();
    ports.iter().all(|p| listens(&table, *p))
}

/// Three hosts: `client` (198.51.100.2, 2001:db8:1::2) ↔ `gw`
/// (198.51.100.1, 2001:db8:1::1; 192.0.2.1) ↔ `backend` (192.0.2.2). No
/// route joins client and backend; forwarding is off in `gw`.
///
/// Declare it before every process that runs inside it, so those are
/// killed before the namespaces go.
#[derive(Debug)]
pub struct Topology {
    /// The client host.
    pub client: Netns,
    /// The gateway host.
    pub gw: Netns,
    /// The backend host (tunnel client and services).
    pub backend: Netns,
}

impl Topology {
    /// Creates the namespaces, veths and addresses (after [`preflight`]).
    pub fn create() -> Topology {
        preflight();
        let topology = Topology {
            client: Netns::create("c"),
            gw: Netns::create("g"),
            backend: Netns::create("b"),
        };
        let (client, gw, backend) = (&topology.client, &topology.gw, &topology.backend);
        client.ip(&[
            "link",
            "add",
            "veth-g",
            "type",
            "veth",
            "peer",
            "name",
            "veth-c",
            "netns",
            gw.name(),
        ]);
        gw.ip(&[
            "link",
            "add",
            GW_TO_BACKEND,
            "type",
            "veth",
            "peer",
            "name",
            BACKEND_TO_GW,
            "netns",
            backend.name(),
        ]);
        address(client, "veth-g", &format!("{CLIENT_V4}/24"));
        address(client, "veth-g", &format!("{CLIENT_V6}/64"));
        address(gw, "veth-c", &format!("{GW_PUBLIC_V4}/24"));
        address(gw, "veth-c", &format!("{GW_PUBLIC_V6}/64"));
        address(gw, GW_TO_BACKEND, &format!("{GW_LINK_V4}/24"));
        address(backend, BACKEND_TO_GW, &format!("{BACKEND_V4}/24"));
        for (ns, dev) in [
            (client, "veth-g"),
            (gw, "veth-c"),
            (gw, GW_TO_BACKEND),
            (backend, BACKEND_TO_GW),
        ] {
            ns.ip(&["link", "set", dev, "up"]);
        }
        topology
    }

    /// Lets the backend host reach the client network directly (a route
    /// via the gateway host, forwarding on there, and the way back).
    pub fn join_backend_to_client(&self) {
        self.gw.sysctl("net.ipv4.ip_forward", "1");
        self.backend.ip(&[
            "route",
            "add",
            "198.51.100.0/24",
            "via",
            &GW_LINK_V4.to_string(),
        ]);
        self.client.ip(&[
            "route",
            "add",
            "192.0.2.0/24",
            "via",
            &GW_PUBLIC_V4.to_string(),
        ]);
    }

    /// Takes the gateway ↔ backend link down (`up = false`) or up again.
    pub fn set_backend_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        self.gw.ip(&["link", "set", GW_TO_BACKEND, state]);
        self.backend.ip(&["link", "set", BACKEND_TO_GW, state]);
    }
}

/// Adds `cidr` to `dev` in `ns` (IPv6 without duplicate detection, so it
/// is usable at once).
fn address(ns: &Netns, dev: &str, cidr: &str) {
    if cidr.contains(':') {
        ns.ip(&["-6", "addr", "add", cidr, "dev", dev, "nodad"]);
    } else {
        ns.ip(&["addr", "add", cidr, "dev", dev]);
    }
}

/// Puts `ip` (as a host address) on `lo` in `ns`.
pub fn add_loopback_address(ns: &Netns, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => ns.ip(&["addr", "add", &format!("{v4}/32"), "dev", "lo"]),
        IpAddr::V6(v6) => ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{v6}/128"),
            "dev",
            "lo",
            "nodad",
        ]),
    };
}

/// Set in the re-run of a test inside its namespace (see [`in_netns`]).
const INNER: &str = "PORTICO_TEST_IN_NETNS";

/// Bound on a test body run by [`in_netns`].
pub const IN_NETNS_BOUND: Duration = Duration::from_secs(60);

/// Runs `body` in a network namespace of its own, so that what it does to
/// links, addresses, routes and rules never touches the host.
///
/// `test` is the name of the calling `#[test]` function. Outside, after
/// [`preflight`], this creates a namespace and re-runs that one test of the
/// current test binary inside it (`ip netns exec NS <exe> <test> --exact`),
/// and fails unless it ran and passed there; the namespace is deleted even
/// on failure. Inside, it prepares the namespace (`lo` up, and a veth
/// `uplink0` with default routes, so that `ip route get` has an answer
/// that is not a TUN) and runs `body` on a tokio runtime, bounded by
/// [`IN_NETNS_BOUND`].
pub fn in_netns<F, Fut>(test: &str, body: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    use anyhow::{Context, ensure};
    if std::env::var_os(INNER).is_some() {
        prepare_own_namespace()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        return runtime.block_on(async {
            tokio::time::timeout(IN_NETNS_BOUND, body())
                .await
                .with_context(|| format!("test body did not finish within {IN_NETNS_BOUND:?}"))?
        });
    }
    preflight();
    let ns = Netns::create("t");
    let exe = std::env::current_exe()?;
    let out = ns
        .command(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    ensure!(
        out.status.success(),
        "the test failed inside namespace {}",
        ns.name()
    );
    ensure!(
        stdout.contains("1 passed"),
        "the test did not run inside namespace {}",
        ns.name()
    );
    Ok(())
}

/// `ip args` in this process's own namespace; its standard output, or an
/// error with its standard error.
pub fn ip(args: &[&str]) -> std::io::Result<String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot run ip: {e} (apt-get install -y iproute2)"),
        )
    })?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "ip {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Inside the namespace of [`in_netns`]: `lo` up, and a veth uplink with
/// default routes.
fn prepare_own_namespace() -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::listens;

    #[test]
    fn listening_sockets_are_found_by_port() {
        let table = "  sl  local_address rem_address   st\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n\
                     1: 0100007F:1F91 0200007F:0050 01 00000000:00000000\n";
        assert!(listens(table, 8080));
        assert!(
            !listens(table, 8081),
            "an established socket is no listener"
        );
        assert!(!listens(table, 80));
    }
}
