//! TUN delivery against the real kernel. Each test creates its own network
//! namespace, re-runs itself inside it (`ip netns exec`), and deletes it at
//! the end: the host's own routes are never touched. Needs root and
//! `/dev/net/tun` and iproute2.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, ensure};
use portico_config::model::{RouteMode, Tun};
use portico_tests::netns::{in_netns, ip};
use portico_tunnel::tun::{
    ROUTE_PROTOCOL_TAG, RULE_PRIORITY, TunDelivery, TunError, TunSettings, TunStream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The handles move between tasks.
const _: () = {
    const fn shareable<T: Send + Sync + Unpin>() {}
    shareable::<TunStream>();
    shareable::<TunDelivery>();
};

const DEVICE: &str = "portico-test";
const TABLE: u32 = 7777;
const SERVICE4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SERVICE6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
const CLIENT4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
/// Bound on waiting for a lingering route to go (the linger is 200 ms).
const ROUTE_GONE_WITHIN: Duration = Duration::from_secs(10);

fn tun_config(routes: RouteMode) -> Tun {
    Tun {
        device: DEVICE.to_owned(),
        address: Some(SERVICE4),
        address6: Some(SERVICE6),
        routes,
        table: TABLE,
    }
}

fn settings() -> TunSettings {
    TunSettings {
        route_linger: Duration::from_millis(200),
        ..TunSettings::default()
    }
}

fn tag() -> String {
    ROUTE_PROTOCOL_TAG.to_string()
}

/// Connects `client` to a fresh listener on `service_ip`, checks what the
/// service sees, exchanges bytes both ways, then a 1 MiB round trip with a
/// half-close in each direction. Returns the (finished, still held) stream.
async fn round_trip(
    delivery: &TunDelivery,
    client: SocketAddr,
    service_ip: IpAddr,
) -> anyhow::Result<TunStream> {
    let listener = TcpListener::bind((service_ip, 0)).await?;
    let service = listener.local_addr()?;
    let (stream, accepted) = tokio::join!(delivery.connect(client, service), listener.accept());
    let mut stream = stream?;
    let (mut conn, peer) = accepted?;
    ensure!(peer == client, "the service saw {peer}, not {client}");

    stream.write_all(b"hello").await?;
    let mut greeting = [0u8; 5];
    conn.read_exact(&mut greeting).await?;
    ensure!(&greeting == b"hello");
    conn.write_all(b"world").await?;
    stream.read_exact(&mut greeting).await?;
    ensure!(&greeting == b"world");

    let payload: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect();
    // The service reads until the client's FIN, then answers on its still
    // open half and closes it.
    let echo = tokio::spawn(async move {
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await?;
        conn.write_all(&got).await?;
        conn.shutdown().await?;
        anyhow::Ok(got.len())
    });
    let (mut reader, mut writer) = tokio::io::split(stream);
    let send = async {
        writer.write_all(&payload).await?;
        writer.shutdown().await?;
        anyhow::Ok(())
    };
    let receive = async {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await?;
        anyhow::Ok(back)
    };
    let (sent, back) = tokio::join!(send, receive);
    sent?;
    let back = back?;
    ensure!(
        echo.await?? == payload.len(),
        "the service got a different length"
    );
    ensure!(
        back.len() == payload.len(),
        "got back {} bytes of {}",
        back.len(),
        payload.len()
    );
    ensure!(back == payload, "the bytes came back changed");
    Ok(reader.unsplit(writer))
}

/// Waits (bounded) until `show` no longer lists `what`.
async fn wait_gone(show: &[&str], what: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + ROUTE_GONE_WITHIN;
    while ip(show)?.contains(what) {
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{what} still in `ip {}` after {ROUTE_GONE_WITHIN:?}",
                show.join(" ")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Nothing tagged is left in any table, and no rule looks up [`TABLE`].
fn assert_nothing_left() -> anyhow::Result<()> {
    let tag = tag();
    for family in ["-4", "-6"] {
        let routes = ip(&[family, "route", "show", "table", "all", "proto", &tag])?;
        ensure!(
            routes.trim().is_empty(),
            "tagged routes left ({family}): {routes}"
        );
        let rules = ip(&[family, "rule", "show"])?;
        ensure!(
            !rules.contains(&format!("lookup {TABLE}")),
            "rules left ({family}): {rules}"
        );
    }
    Ok(())
}

/// Policy mode for one family: the service sees the client, the per-peer
/// route and the rule exist while the connection is open, the host's own
/// route to the client is untouched, and the route goes after the linger.
async fn policy_mode(client: SocketAddr, service_ip: IpAddr, family: &str) -> anyhow::Result<()> {
    let delivery = TunDelivery::start(&tun_config(RouteMode::Policy), settings()).await?;
    let link = ip(&["link", "show", "dev", DEVICE])?;
    ensure!(
        link.contains("mtu 65535") && link.contains("qlen 10000") && link.contains(",UP"),
        "{link}"
    );
    let lo = ip(&[family, "addr", "show", "dev", "lo"])?;
    ensure!(
        lo.contains(&service_ip.to_string()),
        "the service address is not on lo: {lo}"
    );
    let stream = round_trip(&delivery, client, service_ip).await?;
    let peer = client.ip().to_string();
    let table = TABLE.to_string();
    let routes = ip(&[family, "route", "show", "table", &table])?;
    let expected = format!("{peer} dev {DEVICE} proto {}", tag());
    ensure!(
        routes.contains(&expected),
        "no `{expected}` in table {TABLE}: {routes}"
    );
    let rules = ip(&[family, "rule", "show"])?;
    let rule = format!("{RULE_PRIORITY}:\tfrom {service_ip} lookup {TABLE}");
    ensure!(rules.contains(&rule), "no `{rule}` in: {rules}");
    let host_view = ip(&[family, "route", "get", &peer])?;
    ensure!(
        !host_view.contains(DEVICE),
        "the host's own traffic uses the TUN: {host_view}"
    );
    ensure!(
        host_view.contains("uplink0"),
        "unexpected host route: {host_view}"
    );
    let service_view = ip(&[
        family,
        "route",
        "get",
        &peer,
        "from",
        &service_ip.to_string(),
    ])?;
    ensure!(
        service_view.contains(DEVICE),
        "replies from the service miss the TUN: {service_view}"
    );

    ensure!(delivery.open_connections() == 1);
    drop(stream);
    ensure!(
        delivery.open_connections() == 0,
        "the slot was not given back"
    );
    wait_gone(&[family, "route", "show", "table", &table], &peer).await?;
    delivery.shutdown().await?;
    assert_nothing_left()
}

#[test]
fn ipv4_policy_mode_delivers_from_the_client_address() -> anyhow::Result<()> {
    in_netns("ipv4_policy_mode_delivers_from_the_client_address", || {
        policy_mode(
            SocketAddr::new(CLIENT4.into(), 40001),
            SERVICE4.into(),
            "-4",
        )
    })
}

#[test]
fn ipv6_policy_mode_delivers_from_the_client_address() -> anyhow::Result<()> {
    in_netns("ipv6_policy_mode_delivers_from_the_client_address", || {
        policy_mode(
            SocketAddr::new(CLIENT6.into(), 40002),
            SERVICE6.into(),
            "-6",
        )
    })
}

#[test]
fn main_mode_puts_the_peer_route_in_the_main_table() -> anyhow::Result<()> {
    in_netns(
        "main_mode_puts_the_peer_route_in_the_main_table",
        || async {
            let delivery = TunDelivery::start(&tun_config(RouteMode::Main), settings()).await?;
            let client = SocketAddr::new(CLIENT4.into(), 40003);
            let stream = round_trip(&delivery, client, SERVICE4.into()).await?;
            let main = ip(&["route", "show", "table", "main"])?;
            let expected = format!("{CLIENT4} dev {DEVICE} proto {}", tag());
            ensure!(
                main.contains(&expected),
                "no `{expected}` in the main table: {main}"
            );
            let rules = ip(&["rule", "show"])?;
            ensure!(
                !rules.contains(&format!("lookup {TABLE}")),
                "main mode added a rule: {rules}"
            );
            drop(stream);
            wait_gone(&["route", "show", "table", "main"], &CLIENT4.to_string()).await?;
            delivery.shutdown().await?;
            assert_nothing_left()
        },
    )
}

#[test]
fn start_sweeps_leftovers_and_shutdown_leaves_nothing() -> anyhow::Result<()> {
    in_netns(
        "start_sweeps_leftovers_and_shutdown_leaves_nothing",
        || async {
            let tag = tag();
            let table = TABLE.to_string();
            let priority = RULE_PRIORITY.to_string();
            // What a crashed run leaves: tagged routes in its table and in main,
            // and its rules. An untagged route in the same table is not ours.
            ip(&[
                "route",
                "add",
                "198.51.100.9/32",
                "dev",
                "uplink0",
                "table",
                &table,
                "proto",
                &tag,
            ])?;
            ip(&[
                "route",
                "add",
                "198.51.100.10/32",
                "dev",
                "uplink0",
                "proto",
                &tag,
            ])?;
            ip(&[
                "-6",
                "route",
                "add",
                "2001:db8::99/128",
                "dev",
                "uplink0",
                "table",
                &table,
                "proto",
                &tag,
            ])?;
            ip(&[
                "route",
                "add",
                "198.51.100.11/32",
                "dev",
                "uplink0",
                "table",
                &table,
            ])?;
            ip(&[
                "rule",
                "add",
                "from",
                "10.77.0.1",
                "lookup",
                &table,
                "priority",
                &priority,
            ])?;
            ip(&[
                "-6", "rule", "add", "from", "fd77::1", "lookup", &table, "priority", &priority,
            ])?;
            // An address the operator put on lo already: kept on shutdown.
            ip(&["-6", "addr", "add", "fd77::1/128", "dev", "lo", "nodad"])?;

            let delivery = TunDelivery::start(&tun_config(RouteMode::Policy), settings()).await?;
            for family in ["-4", "-6"] {
                let tagged = ip(&[family, "route", "show", "table", "all", "proto", &tag])?;
                ensure!(
                    tagged.trim().is_empty(),
                    "stale tagged routes survived ({family}): {tagged}"
                );
                let rules = ip(&[family, "rule", "show"])?;
                let ours = rules.matches(&format!("lookup {TABLE}")).count();
                ensure!(
                    ours == 1,
                    "expected exactly our rule ({family}), got: {rules}"
                );
            }
            let untagged = ip(&["route", "show", "table", &table])?;
            ensure!(
                untagged.contains("198.51.100.11"),
                "the sweep removed an untagged route: {untagged}"
            );

            // Shut down while a route is still lingering.
            let listener = TcpListener::bind((SERVICE4, 0)).await?;
            let stream = delivery
                .connect(
                    SocketAddr::new(CLIENT4.into(), 40004),
                    listener.local_addr()?,
                )
                .await?;
            ensure!(ip(&["route", "show", "table", &table])?.contains(&CLIENT4.to_string()));
            drop(stream);
            delivery.shutdown().await?;
            assert_nothing_left()?;
            let lo = ip(&["addr", "show", "dev", "lo"])?;
            ensure!(
                !lo.contains("10.77.0.1"),
                "the address start added is still on lo: {lo}"
            );
            ensure!(
                lo.contains("fd77::1"),
                "shutdown removed an address it did not add: {lo}"
            );
            Ok(())
        },
    )
}

#[test]
fn connect_without_a_listener_is_refused() -> anyhow::Result<()> {
    in_netns("connect_without_a_listener_is_refused", || async {
        let delivery = TunDelivery::start(&tun_config(RouteMode::Policy), settings()).await?;
        // A port nobody listens on: bind one, then free it.
        let port = TcpListener::bind((SERVICE4, 0)).await?.local_addr()?.port();
        let service = SocketAddr::new(SERVICE4.into(), port);
        let result = delivery
            .connect(SocketAddr::new(CLIENT4.into(), 40005), service)
            .await;
        ensure!(
            matches!(result, Err(TunError::Refused { service: s }) if s == service),
            "expected Refused, got {result:?}"
        );
        let result6 = delivery
            .connect(
                SocketAddr::new(CLIENT6.into(), 40006),
                SocketAddr::new(SERVICE6.into(), port),
            )
            .await;
        ensure!(
            matches!(result6, Err(TunError::Refused { .. })),
            "expected Refused, got {result6:?}"
        );
        delivery.shutdown().await?;
        assert_nothing_left()
    })
}

#[test]
fn connect_to_a_silent_address_times_out() -> anyhow::Result<()> {
    in_netns("connect_to_a_silent_address_times_out", || async {
        let timeout = Duration::from_millis(300);
        let settings = TunSettings {
            connect_timeout: timeout,
            ..settings()
        };
        let delivery = TunDelivery::start(&tun_config(RouteMode::Policy), settings).await?;
        // Not a local address, and the namespace does not forward: the SYN
        // is dropped and nothing answers.
        let service: SocketAddr = "192.0.2.99:80".parse()?;
        let result = delivery
            .connect(SocketAddr::new(CLIENT4.into(), 40007), service)
            .await;
        ensure!(
            matches!(result, Err(TunError::ConnectTimeout { timeout: t, .. }) if t == timeout),
            "expected ConnectTimeout, got {result:?}"
        );
        ensure!(
            delivery.open_connections() == 0,
            "the slot was not given back"
        );
        delivery.shutdown().await?;
        assert_nothing_left()
    })
}

#[test]
fn max_connections_is_enforced() -> anyhow::Result<()> {
    in_netns("max_connections_is_enforced", || async {
        let settings = TunSettings {
            max_connections: 1,
            ..settings()
        };
        let delivery = TunDelivery::start(&tun_config(RouteMode::Policy), settings).await?;
        let listener = TcpListener::bind((SERVICE4, 0)).await?;
        let service = listener.local_addr()?;
        let first = delivery
            .connect(SocketAddr::new(CLIENT4.into(), 40008), service)
            .await?;
        let second = delivery
            .connect(SocketAddr::new(CLIENT4.into(), 40009), service)
            .await;
        ensure!(
            matches!(second, Err(TunError::TooManyConnections { max: 1 })),
            "expected TooManyConnections, got {second:?}"
        );
        drop(first);
        let third = delivery
            .connect(SocketAddr::new(CLIENT4.into(), 40010), service)
            .await?;
        let (_, peer) = listener.accept().await?;
        ensure!(
            peer.port() == 40008,
            "first accepted connection came from {peer}"
        );
        let (_, peer) = listener.accept().await?;
        ensure!(
            peer.port() == 40010,
            "second accepted connection came from {peer}"
        );
        drop(third);
        delivery.shutdown().await?;
        assert_nothing_left()
    })
}
