//! UDP flows through a real tunnel, in network namespaces (client ↔
//! gateway ↔ tunnel host): a `[[udp_listener]]` routes every flow to the
//! tunnel client `home`, which delivers it to a UDP service from the
//! client's own address and port through the TUN (`source = "original"`),
//! over IPv4 and IPv6, or from its own socket (`source = "tunnel"`). The
//! service is a UDP server that answers each datagram with the address it
//! came from.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use portico_tests::certs::TestCa;
use portico_tests::gateway::Gateway;
use portico_tests::netns::{
    self, CLIENT_V4, CLIENT_V6, GW_LINK_V4, GW_PUBLIC_V4, GW_PUBLIC_V6, Netns, Topology,
};
use portico_tests::tunnel::{Delivery, TunnelClient, client_config, gateway_tunnels, write_token};
use portico_tests::tunnel_scene::{SESSION_WAIT, TUN_V4, TUN_V6, link_addr};

/// The gateway port of the flows delivered from the client's address.
const ORIGINAL_PORT: u16 = 53;
/// The gateway port of the flows delivered from the tunnel host's socket.
const PLAIN_PORT: u16 = 54;
/// The services' port on the tunnel host.
const SERVICE_PORT: u16 = 5353;
/// The plain service's port (on the tunnel host's loopback).
const PLAIN_SERVICE_PORT: u16 = 5354;

/// A UDP server in `ns` on `addr` answering `from=<source address>`.
fn who_is_asking(ns: &Netns, addr: SocketAddr) {
    let socket = ns.within(move || UdpSocket::bind(addr).unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((_, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(format!("from={from}").as_bytes(), from);
        }
    });
}

/// Sends one datagram from a new socket in `ns` bound to `source` to `to`,
/// retrying a few times (the first flow may race the tunnel's stream);
/// returns the socket's address and the answer.
fn ask(ns: &Netns, source: IpAddr, to: SocketAddr) -> (SocketAddr, String) {
    let socket = ns.within(move || UdpSocket::bind(SocketAddr::new(source, 0)).unwrap());
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..5 {
        socket.send_to(b"who am I?", to).unwrap();
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            assert_eq!(from, to, "the answer comes from the gateway's listener");
            return (local, String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    panic!("no answer from {to} to {local}");
}

#[test]
fn udp_flows_reach_services_from_the_clients_own_address() {
    let topology = Topology::create();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::create_with_ips(
        &dir.path().join("certs"),
        &["gw.test"],
        &[IpAddr::V4(GW_LINK_V4)],
    );
    let token = write_token(dir.path(), "home", "udp-tunnel-token-8c2e41");
    netns::add_loopback_address(&topology.backend, IpAddr::V4(TUN_V4));
    netns::add_loopback_address(&topology.backend, IpAddr::V6(TUN_V6));
    who_is_asking(&topology.backend, SocketAddr::from((TUN_V4, SERVICE_PORT)));
    who_is_asking(&topology.backend, SocketAddr::from((TUN_V6, SERVICE_PORT)));
    who_is_asking(
        &topology.backend,
        SocketAddr::from(([127, 0, 0, 1], PLAIN_SERVICE_PORT)),
    );

    let gateway_toml = format!(
        "[[udp_listener]]\nname = \"dns4\"\nbind = \"{GW_PUBLIC_V4}:{ORIGINAL_PORT}\"\nprotocols = [\"other\"]\n\n\
         [[udp_listener]]\nname = \"dns6\"\nbind = \"[{GW_PUBLIC_V6}]:{ORIGINAL_PORT}\"\nprotocols = [\"other\"]\n\n\
         [[udp_listener]]\nname = \"plain\"\nbind = \"{GW_PUBLIC_V4}:{PLAIN_PORT}\"\nprotocols = [\"other\"]\n\n\
         [[route]]\nhosts = [\"*\"]\nprotocols = [\"other\"]\ntunnel = \"home\"\n\n{}\
         [limits]\nshutdown_grace = \"1s\"\n",
        gateway_tunnels(
            link_addr(),
            &ca.cert("gw.test"),
            &ca.key("gw.test"),
            &[("home", &token)],
        ),
    );
    let gateway = Gateway::start_in(&topology.gw, &gateway_toml);
    let tunnel_toml = format!(
        "{}[[service]]\nhosts = [\"*\"]\nports = [{ORIGINAL_PORT}]\nto = \"{TUN_V4}:{SERVICE_PORT}\"\nsource = \"original\"\n\n\
         [[service]]\nhosts = [\"*\"]\nports = [{PLAIN_PORT}]\nto = \"127.0.0.1:{PLAIN_SERVICE_PORT}\"\nsource = \"tunnel\"\n",
        client_config(link_addr(), "home", &token, &ca.ca(), Delivery::Policy, &[]),
    );
    let mut tunnel = TunnelClient::start_in(&topology.backend, &tunnel_toml);
    tunnel.wait_sessions(1, SESSION_WAIT);

    // IPv4 and IPv6, several flows each: the service sees each client
    // socket's own address and port.
    for _ in 0..3 {
        let (local, answer) = ask(
            &topology.client,
            IpAddr::V4(CLIENT_V4),
            SocketAddr::from((GW_PUBLIC_V4, ORIGINAL_PORT)),
        );
        assert_eq!(
            answer,
            format!("from={local}"),
            "gateway log:\n{}",
            gateway.log()
        );
    }
    for _ in 0..2 {
        let (local, answer) = ask(
            &topology.client,
            IpAddr::V6(CLIENT_V6),
            SocketAddr::from((GW_PUBLIC_V6, ORIGINAL_PORT)),
        );
        assert_eq!(
            answer,
            format!("from={local}"),
            "gateway log:\n{}",
            gateway.log()
        );
    }
    // source = "tunnel": the service sees the tunnel host's own socket.
    let (local, answer) = ask(
        &topology.client,
        IpAddr::V4(CLIENT_V4),
        SocketAddr::from((GW_PUBLIC_V4, PLAIN_PORT)),
    );
    assert!(answer.starts_with("from=127.0.0.1:"), "{answer}");
    assert_ne!(answer, format!("from={local}"));
}
