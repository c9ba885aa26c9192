//! The tunnel end to end, in network namespaces: curl on a client host
//! reaches nginx on a backend host that only the tunnel joins to the
//! gateway host, and nginx sees the client's own address and port (IPv4,
//! IPv6, TLS passed through); policy routes leave the backend host's own
//! connections alone where main-table routes capture them; a crashed
//! tunnel client leaves no routes or rules behind after its restart; the
//! session heals after a cut link and a gateway restart; refused sessions
//! are logged while other routes keep working; a local service that is
//! down answers 502.
//!
//! Needs root, /dev/net/tun, iproute2, nginx, curl, and the built binaries
//! (`cargo build --bins`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use portico_tests::netns::{BACKEND_V4, CLIENT_V4, CLIENT_V6};
use portico_tests::process::Output;
use portico_tests::tunnel::{Delivery, ServiceSpec, TunnelClient, client_config, write_token};
use portico_tests::tunnel_scene::{
    APP_PORT, RECONNECT_WAIT, SESSION_WAIT, Scene, TUN_V4, TUNNEL_NAME, link_addr, status_code,
};

/// Bound on one direct connection attempt of the backend host.
const ATTEMPT: Duration = Duration::from_secs(5);

/// `GET http://app.test/` from a fresh source port; asserts 200 from the
/// `app` nginx server and that nginx logged the client's address and port.
fn app_sees_client(scene: &Scene, v6: bool) {
    let port = Scene::next_port();
    let out = scene.http_get("app.test", v6, port);
    assert_ok(&out, "backend=app");
    let client: IpAddr = if v6 {
        CLIENT_V6.into()
    } else {
        CLIENT_V4.into()
    };
    scene.nginx.wait_access(&[
        "label=app ",
        &format!("remote={client} "),
        &format!("rport={port} "),
    ]);
}

fn assert_ok(out: &Output, body: &str) {
    assert_eq!(status_code(out), 200, "curl: {}", out.all());
    assert!(out.stdout.contains(body), "curl: {}", out.all());
}

/// Tagged (`proto 156`) routes of both families in every table of the
/// backend host.
fn tagged_routes(scene: &Scene) -> String {
    let b = &scene.topology.backend;
    let v4 = b.ip(&["route", "show", "table", "all", "proto", "156"]);
    let v6 = b.ip(&["-6", "route", "show", "table", "all", "proto", "156"]);
    format!("{v4}{v6}")
}

/// The backend host's policy rules at the tunnel client's priority, per
/// family.
fn tunnel_rules(scene: &Scene) -> (usize, usize) {
    let b = &scene.topology.backend;
    let count = |text: String| text.lines().filter(|l| l.starts_with("9156:")).count();
    (
        count(b.ip(&["rule", "show"])),
        count(b.ip(&["-6", "rule", "show"])),
    )
}

#[test]
fn services_see_the_original_client_over_ipv4_ipv6_and_tls() {
    let scene = Scene::start(Delivery::Policy);
    app_sees_client(&scene, false);
    app_sees_client(&scene, true);

    let port = Scene::next_port();
    let out = scene.https_get("tls.test", port);
    assert_ok(&out, "backend=tls");
    scene.nginx.wait_access(&[
        "label=tls ",
        &format!("remote={CLIENT_V4} "),
        &format!("rport={port} "),
        "sni=tls.test ",
    ]);

    // source = "tunnel": the service sees the tunnel client instead.
    let out = scene.http_get("plain.test", false, Scene::next_port());
    assert_ok(&out, "backend=plain");
    scene
        .nginx
        .wait_access(&["label=plain ", "remote=127.0.0.1 "]);
}

/// With the backend host joined to the client network directly and a
/// tunneled connection from the client open, whether the backend host's
/// own TCP connection to the client completes.
fn backend_reaches_client_during_a_tunneled_connection(delivery: Delivery) -> bool {
    let scene = Scene::start(delivery);
    scene.topology.join_backend_to_client();
    let listener = scene
        .topology
        .client
        .listen(SocketAddr::from((CLIENT_V4, 9000)));
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let target = SocketAddr::from((CLIENT_V4, 9000));
    let before = scene.topology.backend.connect(any, target, ATTEMPT);
    assert!(
        before.is_ok(),
        "without a tunneled connection the backend host reaches the client: {before:?}"
    );
    drop(before);
    let _ = listener.accept().unwrap();

    let held = scene.hold_connection("app.test", Scene::next_port());
    let (table, where_) = match delivery {
        Delivery::Main => (vec!["route", "show"], "main"),
        _ => (vec!["route", "show", "table", "7777"], "7777"),
    };
    let routes = scene.topology.backend.ip(&table);
    assert!(
        routes.contains(&format!("{CLIENT_V4} dev portico0")),
        "no per-peer route for {CLIENT_V4} in table {where_} while its connection is open:\n{routes}"
    );
    let during = scene.topology.backend.connect(any, target, ATTEMPT);
    if during.is_ok() {
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), IpAddr::V4(BACKEND_V4));
    }
    // The tunneled connection is still served.
    app_sees_client(&scene, false);
    drop(held);
    during.is_ok()
}

#[test]
fn policy_routes_leave_the_backend_hosts_own_connections_alone() {
    assert!(
        backend_reaches_client_during_a_tunneled_connection(Delivery::Policy),
        "with routes = \"policy\" the backend host must still reach {CLIENT_V4} directly"
    );
}

#[test]
fn main_table_routes_capture_the_backend_hosts_own_connections() {
    assert!(
        !backend_reaches_client_during_a_tunneled_connection(Delivery::Main),
        "with routes = \"main\" the per-peer route sends the host's own connection into the TUN"
    );
}

/// Holds a tunneled connection, SIGKILLs the tunnel client, checks that
/// its rules survived it, and starts it again; returns once the new
/// session is up.
fn kill_and_restart_with_a_connection_open(scene: &mut Scene) {
    let held = scene.hold_connection("app.test", Scene::next_port());
    assert!(
        tagged_routes(scene).contains(&CLIENT_V4.to_string()),
        "no tagged route for the open connection:\n{}",
        tagged_routes(scene)
    );
    assert_eq!(tunnel_rules(scene), (1, 1), "one policy rule per family");
    scene.kill_tunnel();
    // SIGKILL leaves the rules (routes go with the device): the next start
    // has something to sweep.
    assert_eq!(
        tunnel_rules(scene),
        (1, 1),
        "rules left by the killed client"
    );
    scene.restart_tunnel();
    drop(held);
    scene.wait_ready(1, SESSION_WAIT);
}

#[test]
fn a_killed_tunnel_client_leaves_no_routes_or_rules_after_restart() {
    let mut scene = Scene::start(Delivery::Policy);
    kill_and_restart_with_a_connection_open(&mut scene);
    assert_eq!(
        tunnel_rules(&scene),
        (1, 1),
        "after the restart: the live rules only, none left over"
    );
    let routes = tagged_routes(&scene);
    assert!(
        !routes.contains(&CLIENT_V4.to_string()),
        "a route of the killed client's connection is left over:\n{routes}"
    );
    // Once the gateway has let the dead session go, service is back.
    scene.wait_gateway_sessions(1, RECONNECT_WAIT);
    app_sees_client(&scene, false);
    app_sees_client(&scene, true);
}

#[test]
fn connections_right_after_a_tunnel_client_restart_are_answered() {
    let mut scene = Scene::start(Delivery::Policy);
    kill_and_restart_with_a_connection_open(&mut scene);
    // The gateway may still count the killed client's session as live. A
    // connection sent into it must be answered (502), never left hanging,
    // and must reveal the dead session so that the next ones all succeed.
    let codes: Vec<u16> = (0..4)
        .map(|_| status_code(&scene.http_get("app.test", false, Scene::next_port())))
        .collect();
    assert!(
        codes.iter().all(|c| *c == 200 || *c == 502),
        "every connection is answered, none hangs: {codes:?}"
    );
    assert!(
        codes.iter().filter(|c| **c == 502).count() <= 1,
        "at most one connection is lost to the dead session: {codes:?}"
    );
    assert_eq!(codes.last(), Some(&200), "{codes:?}");
    app_sees_client(&scene, false);
}

#[test]
fn the_session_heals_after_a_cut_link_and_a_gateway_restart() {
    let mut scene = Scene::start(Delivery::Policy);
    scene.topology.set_backend_link(false);
    assert!(
        scene
            .tunnel()
            .wait_log_line(&["session lost"], RECONNECT_WAIT),
        "the tunnel client did not notice the cut link within {RECONNECT_WAIT:?}; log:\n{}",
        scene.tunnel().log()
    );
    scene.topology.set_backend_link(true);
    scene.wait_ready(2, RECONNECT_WAIT);
    app_sees_client(&scene, false);

    scene.crash_and_restart_gateway();
    scene.wait_ready(3, RECONNECT_WAIT);
    app_sees_client(&scene, false);
    app_sees_client(&scene, true);
}

#[test]
fn refused_sessions_are_logged_and_other_routes_keep_working() {
    let mut scene = Scene::start(Delivery::Policy);
    // The intruders deliver plainly: a second [tun] would take the device.
    let services = [ServiceSpec::new(
        "app.test",
        SocketAddr::from((TUN_V4, APP_PORT)),
        false,
    )];
    let wrong = write_token(scene.dir(), "wrong", "not-the-token-of-home");
    let cases = [(TUNNEL_NAME, "bad_token"), ("nobody", "unknown_name")];
    for (name, reason) in cases {
        let toml = client_config(
            link_addr(),
            name,
            &wrong,
            &scene.ca.ca(),
            Delivery::Plain,
            &services,
        );
        let mut intruder = TunnelClient::start_in(&scene.topology.backend, &toml);
        let gateway = scene.gateway();
        assert!(
            gateway.wait_log_line(&["tunnel session refused", name, reason]),
            "no refusal line for {name} ({reason}); gateway log:\n{}",
            gateway.log()
        );
        assert!(
            intruder.wait_log_line(&["refused"], SESSION_WAIT),
            "the refused client does not say so; log:\n{}",
            intruder.log()
        );
        intruder.assert_running();
        drop(intruder);
    }
    scene.gateway().assert_running();
    app_sees_client(&scene, false);
    let out = scene.http_get("plain.test", false, Scene::next_port());
    assert_ok(&out, "backend=plain");
}

#[test]
fn a_local_service_that_is_down_answers_502() {
    let scene = Scene::start(Delivery::Policy);
    for host in ["down.test", "downplain.test"] {
        let out = scene.http_get(host, false, Scene::next_port());
        assert_eq!(status_code(&out), 502, "{host}: {}", out.all());
    }
    app_sees_client(&scene, false);
}
