//! The namespace topology of the tunnel tests on its own: the client
//! reaches the gateway host over IPv4 and IPv6, the gateway host reaches
//! the backend, the backend cannot reach the client until a test joins
//! them, and the namespaces are gone after drop, leaving the host's own
//! namespace untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use portico_tests::WAIT;
use portico_tests::netns::{
    BACKEND_V4, CLIENT_V4, GW_LINK_V4, GW_PUBLIC_V4, GW_PUBLIC_V6, Netns, Topology,
};
use portico_tests::process::run_bounded;
use portico_tests::tools::require;

/// Bound on one connection attempt: an unreachable address fails at once
/// (no route) or by then.
const ATTEMPT: Duration = Duration::from_secs(3);

/// Whether a TCP connection from `from` to `to` completes.
fn reaches(from: &Netns, to: SocketAddr) -> bool {
    let any = SocketAddr::new(
        if to.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        },
        0,
    );
    from.connect(any, to, ATTEMPT).is_ok()
}

#[test]
fn namespaces_connect_client_to_gateway_and_gateway_to_backend_only() {
    let topology = Topology::create();
    let (client, gw, backend) = (&topology.client, &topology.gw, &topology.backend);
    let gw4 = SocketAddr::from((GW_PUBLIC_V4, 8000));
    let gw6 = SocketAddr::from((GW_PUBLIC_V6, 8000));
    let gw_link = SocketAddr::from((GW_LINK_V4, 8000));
    let at_client = SocketAddr::from((CLIENT_V4, 9000));
    let at_backend = SocketAddr::from((BACKEND_V4, 9000));
    let _listeners: Vec<TcpListener> = vec![
        gw.listen(gw4),
        gw.listen(gw6),
        gw.listen(gw_link),
        client.listen(at_client),
        backend.listen(at_backend),
    ];

    assert!(reaches(client, gw4));
    assert!(reaches(client, gw6));
    assert!(reaches(backend, gw_link));
    assert!(reaches(gw, at_backend));
    assert!(reaches(gw, at_client));
    // No route between the outer hosts: the tunnel is the only way.
    assert!(!reaches(backend, at_client));
    assert!(!reaches(client, at_backend));

    topology.join_backend_to_client();
    assert!(reaches(backend, at_client));
}

#[test]
fn plain_tools_run_inside_the_namespaces() {
    require("curl", "curl");
    let topology = Topology::create();
    let listener = topology.gw.listen(SocketAddr::from((GW_PUBLIC_V4, 8080)));
    let server = std::thread::spawn(move || {
        let (mut stream, peer) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut head = [0u8; 1024];
        let _ = stream.read(&mut head).unwrap();
        stream
            .write_all(format!("HTTP/1.0 200 OK\r\n\r\npeer={}\n", peer.ip()).as_bytes())
            .unwrap();
        peer
    });
    let out = topology.client.run(
        "curl",
        &["-sS", "-m", "5", &format!("http://{GW_PUBLIC_V4}:8080/")],
        WAIT,
    );
    assert!(out.status.success(), "curl: {}", out.all());
    assert_eq!(out.stdout.trim(), format!("peer={CLIENT_V4}"));
    assert_eq!(server.join().unwrap().ip(), IpAddr::V4(CLIENT_V4));
}

#[test]
fn namespaces_are_deleted_on_drop() {
    let names: Vec<String> = {
        let topology = Topology::create();
        [&topology.client, &topology.gw, &topology.backend]
            .iter()
            .map(|ns| ns.name().to_owned())
            .collect()
    };
    let list = run_bounded(Command::new("ip").args(["netns", "list"]));
    for name in &names {
        assert!(
            !list
                .stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name.as_str())),
            "namespace {name} left behind: {}",
            list.stdout
        );
    }
    let links = run_bounded(Command::new("ip").args(["-o", "link", "show"]));
    assert!(
        !links.stdout.contains("veth-b@") && !links.stdout.contains("veth-c@"),
        "a topology veth is in the host namespace: {}",
        links.stdout
    );
}
