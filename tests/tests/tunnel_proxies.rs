//! New kinds of connection through a real tunnel, in network namespaces
//! (client ↔ gateway ↔ tunnel host with its LAN): a `"0s"` port forward
//! delivered to a `hosts = ["*"]` service chosen by the gateway port, from
//! the client's own address through the TUN; and a tunnel host's LAN by
//! credentials — curl through SOCKS5 and `CONNECT` (`--proxytunnel`: for
//! an `http://` URL curl would otherwise send the request itself to the
//! proxy, which `connect` does not take) on an `exit = true`
//! route reaches a LAN address the tunnel client's `[[exit]]` list admits,
//! gets `403` / `0x02` for one it does not (which never sees a request) and
//! `502` for an admitted address where nothing listens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use portico_tests::WAIT;
use portico_tests::certs::TestCa;
use portico_tests::gateway::Gateway;
use portico_tests::netns::{self, CLIENT_V4, GW_LINK_V4, GW_PUBLIC_V4, Topology};
use portico_tests::nginx::{Nginx, NginxServer};
use portico_tests::process::Output;
use portico_tests::tunnel::{Delivery, TunnelClient, client_config, gateway_tunnels, write_token};
use portico_tests::tunnel_scene::{SESSION_WAIT, TUN_V4, link_addr, status_code};

const PASSWORD: &str = "lan-by-credentials";
/// The LAN address the exit list admits.
const LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
/// A LAN address it does not admit.
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 10);
const LAN_PORT: u16 = 5000;
/// Admitted by the exit list, nothing listens there.
const CLOSED_PORT: u16 = 5001;
/// The service port behind the port forward.
const FORWARD_PORT: u16 = 2525;

struct Setup {
    _tunnel: TunnelClient,
    gateway: Gateway,
    nginx: Nginx,
    _dir: tempfile::TempDir,
    topology: Topology,
}

impl Setup {
    fn curl(&self, args: &[&str]) -> Output {
        let mut all = vec!["-sS", "-m", "10", "-w", "\\nstatus=%{http_code}"];
        all.extend_from_slice(args);
        self.topology
            .client
            .run("curl", &all, WAIT + Duration::from_secs(2))
    }
}

fn start() -> Setup {
    let topology = Topology::create();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::create_with_ips(
        &dir.path().join("certs"),
        &["gw.test"],
        &[IpAddr::V4(GW_LINK_V4)],
    );
    let token = write_token(dir.path(), "home", "tunnel-proxies-token-3b9d");
    let password = dir.path().join("alice.pass");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The tunnel host: the TUN service address and two LAN addresses.
    for ip in [TUN_V4, LAN, OUTSIDE] {
        netns::add_loopback_address(&topology.backend, IpAddr::V4(ip));
    }
    let nginx = Nginx::start_in(
        &topology.backend,
        &[
            NginxServer::http("forwarded", SocketAddr::from((TUN_V4, FORWARD_PORT))),
            NginxServer::http("lan", SocketAddr::from((LAN, LAN_PORT))),
            NginxServer::http("outside", SocketAddr::from((OUTSIDE, LAN_PORT))),
        ],
        None,
    );

    let gateway_toml = format!(
        "[[listener]]\nbind = \"{GW_PUBLIC_V4}:1080\"\nprotocols = [\"connect\", \"socks5\"]\n\n\
         [[listener]]\nbind = \"{GW_PUBLIC_V4}:25\"\nprotocols = [\"other\"]\nother_after = \"0s\"\n\n\
         [[user]]\nname = \"alice\"\npassword_file = \"{}\"\n\n\
         [[route]]\nhosts = [\"*\"]\nprotocols = [\"connect\", \"socks5\"]\nusers = [\"alice\"]\n\
         tunnel = \"home\"\nexit = true\n\n\
         [[route]]\nhosts = [\"*\"]\nprotocols = [\"other\"]\ntunnel = \"home\"\n\n{}\
         [limits]\nshutdown_grace = \"1s\"\n",
        password.display(),
        gateway_tunnels(
            link_addr(),
            &ca.cert("gw.test"),
            &ca.key("gw.test"),
            &[("home", &token)],
        ),
    );
    let gateway = Gateway::start_in(&topology.gw, &gateway_toml);
    let tunnel_toml = format!(
        "{}[[service]]\nhosts = [\"*\"]\nports = [25]\nto = \"{TUN_V4}:{FORWARD_PORT}\"\nsource = \"original\"\n\n\
         [[exit]]\nallow = [\"192.168.1.0/24\"]\nports = [{LAN_PORT}, {CLOSED_PORT}]\n",
        client_config(link_addr(), "home", &token, &ca.ca(), Delivery::Policy, &[]),
    );
    let mut tunnel = TunnelClient::start_in(&topology.backend, &tunnel_toml);
    tunnel.wait_sessions(1, SESSION_WAIT);
    Setup {
        _tunnel: tunnel,
        gateway,
        nginx,
        _dir: dir,
        topology,
    }
}

#[test]
fn port_forward_and_lan_exits_through_a_tunnel() {
    let setup = start();

    // The port forward reaches the "*" service for gateway port 25, and the
    // service sees the client's own address.
    let out = setup.curl(&[&format!("http://{GW_PUBLIC_V4}:25/")]);
    assert!(
        out.stdout.contains("backend=forwarded ") && status_code(&out) == 200,
        "{}\ngateway log:\n{}",
        out.all(),
        setup.gateway.log()
    );
    setup
        .nginx
        .wait_access(&["label=forwarded", &format!("remote={CLIENT_V4} ")]);

    let socks = format!("{GW_PUBLIC_V4}:1080");
    let http_proxy = format!("http://{GW_PUBLIC_V4}:1080");
    let user = format!("alice:{PASSWORD}");
    let lan = format!("http://{LAN}:{LAN_PORT}/");
    for proxy in [
        vec!["--socks5-hostname", &socks, "--proxy-user", &user],
        vec![
            "--proxytunnel",
            "--proxy",
            &http_proxy,
            "--proxy-user",
            &user,
        ],
    ] {
        let mut args = proxy.clone();
        args.push(&lan);
        let out = setup.curl(&args);
        assert!(
            out.stdout.contains("backend=lan ") && status_code(&out) == 200,
            "{proxy:?}: {}\ngateway log:\n{}",
            out.all(),
            setup.gateway.log()
        );
    }

    // Not in the exit list: refused before any packet reaches it.
    let outside = format!("http://{OUTSIDE}:{LAN_PORT}/");
    let out = setup.curl(&[
        "--proxytunnel",
        "--proxy",
        &http_proxy,
        "--proxy-user",
        &user,
        &outside,
    ]);
    assert!(
        status_code(&out) != 200 && out.stderr.contains("403"),
        "{}",
        out.all()
    );
    let out = setup.curl(&["--socks5-hostname", &socks, "--proxy-user", &user, &outside]);
    assert!(
        status_code(&out) != 200 && !out.status.success(),
        "{}",
        out.all()
    );
    // A port the exit list does not name, on the admitted address.
    let other_port = format!("http://{LAN}:22/");
    let out = setup.curl(&[
        "--proxytunnel",
        "--proxy",
        &http_proxy,
        "--proxy-user",
        &user,
        &other_port,
    ]);
    assert!(out.stderr.contains("403"), "{}", out.all());
    // Admitted, but nothing listens: 502.
    let closed = format!("http://{LAN}:{CLOSED_PORT}/");
    let out = setup.curl(&[
        "--proxytunnel",
        "--proxy",
        &http_proxy,
        "--proxy-user",
        &user,
        &closed,
    ]);
    assert!(out.stderr.contains("502"), "{}", out.all());
    // Without credentials: 407.
    let out = setup.curl(&["--proxytunnel", "--proxy", &http_proxy, &lan]);
    assert!(out.stderr.contains("407"), "{}", out.all());

    assert!(
        !setup.nginx.access_log().contains("label=outside"),
        "the address outside the exit list saw a request:\n{}",
        setup.nginx.access_log()
    );
}
