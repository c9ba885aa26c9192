//! Netlink requests of TUN delivery: service addresses on `lo`, tagged
//! per-peer routes, the policy rules, and the sweep of leftovers.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::{Handle, IpVersion, RouteMessageBuilder};
use tokio::task::JoinHandle;

use super::error::TunError;

/// Protocol number carried by every route this module adds (`proto 156`
/// in `ip route`): the sweep deletes every route with it, in every table.
pub const ROUTE_PROTOCOL_TAG: u8 = 0x9c;

/// Priority of the policy rules (`ip rule ... priority 9156`), below the
/// `main` rule (32766) so the per-peer table is consulted first.
pub const RULE_PRIORITY: u32 = 9156;

/// The kernel's `main` routing table.
pub(crate) const MAIN_TABLE: u32 = 254;

/// `errno` of deleting a route that does not exist.
const ESRCH: i32 = 3;

/// How long one netlink request may take before it counts as failed.
pub(crate) const NETLINK_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`Netlink::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Tagged routes deleted, all tables and both families together.
    pub routes: usize,
    /// Rules at [`RULE_PRIORITY`] for the table deleted.
    pub rules: usize,
}

/// A netlink handle with its own connection task, stopped on drop.
pub(crate) struct Netlink {
    handle: Handle,
    connection: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Runs one netlink request with [`NETLINK_TIMEOUT`].
async fn bounded<T>(
    op: &'static str,
    request: impl Future<Output = Result<T, rtnetlink::Error>>,
) -> Result<T, TunError> {
    match tokio::time::timeout(NETLINK_TIMEOUT, request).await {
        Ok(result) => result.map_err(|source| TunError::Netlink { op, source }),
        Err(_) => Err(TunError::NetlinkTimeout {
            op,
            timeout: NETLINK_TIMEOUT,
        }),
    }
}

fn host_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The `ip route` message for `peer/32` (or `/128`) dev `ifindex` in `table`.
fn peer_route(peer: IpAddr, ifindex: u32, table: u32) -> RouteMessage {
    match peer {
        IpAddr::V4(ip) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(ip, 32)
            .output_interface(ifindex)
            .table_id(table)
            .protocol(RouteProtocol::Other(ROUTE_PROTOCOL_TAG))
            .scope(RouteScope::Link)
            .build(),
        IpAddr::V6(ip) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(ip, 128)
            .output_interface(ifindex)
            .table_id(table)
            .protocol(RouteProtocol::Other(ROUTE_PROTOCOL_TAG))
            .scope(RouteScope::Link)
            .build(),
    }
}

fn rule_table(rule: &RuleMessage) -> u32 {
    rule.attributes
        .iter()
        .find_map(|a| match a {
            RuleAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(rule.header.table))
}

fn rule_priority(rule: &RuleMessage) -> Option<u32> {
    rule.attributes.iter().find_map(|a| match a {
        RuleAttribute::Priority(p) => Some(*p),
        _ => None,
    })
}

fn is_tagged(route: &RouteMessage) -> bool {
    route.header.protocol == RouteProtocol::Other(ROUTE_PROTOCOL_TAG)
}

fn route_table(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table))
}

impl Netlink {
    /// Opens a netlink socket and spawns its connection task.
    pub(crate) fn open() -> Result<Self, TunError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(TunError::NetlinkSocket)?;
        let connection = tokio::spawn(connection);
        Ok(Self { handle, connection })
    }

    /// The index of the interface called `name`.
    pub(crate) async fn link_index(&self, name: &str) -> Result<u32, TunError> {
        let found = bounded("get link", async {
            let mut links = self.handle.link().get().match_name(name).execute();
            links.try_next().await
        })
        .await;
        match found {
            Ok(Some(link)) => Ok(link.header.index),
            // The kernel answers ENODEV for an unknown name.
            Ok(None) | Err(TunError::Netlink { .. }) => Err(TunError::NoSuchLink(name.to_owned())),
            Err(other) => Err(other),
        }
    }

    /// Whether `ip` is assigned to interface `index`.
    pub(crate) async fn has_address(&self, index: u32, ip: IpAddr) -> Result<bool, TunError> {
        bounded("get address", async {
            let mut addresses = self
                .handle
                .address()
                .get()
                .set_link_index_filter(index)
                .set_address_filter(ip)
                .execute();
            Ok(addresses.try_next().await?.is_some())
        })
        .await
    }

    /// Assigns `ip/32` (or `/128`, without duplicate address detection) to interface `index`.
    pub(crate) async fn add_address(&self, index: u32, ip: IpAddr) -> Result<(), TunError> {
        let mut request = self.handle.address().add(index, ip, host_prefix(ip));
        if ip.is_ipv6() {
            let message = request.message_mut();
            message.header.flags |= AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        bounded("add address", request.execute()).await
    }

    /// Removes `ip` from interface `index`, if it is there.
    pub(crate) async fn del_address(&self, index: u32, ip: IpAddr) -> Result<(), TunError> {
        let found = bounded("get address", async {
            let addresses = self
                .handle
                .address()
                .get()
                .set_link_index_filter(index)
                .set_address_filter(ip)
                .execute();
            addresses.try_collect::<Vec<_>>().await
        })
        .await?;
        for message in found {
            bounded(
                "delete address",
                self.handle.address().del(message).execute(),
            )
            .await?;
        }
        Ok(())
    }

    /// Adds (or replaces) the tagged route `peer` dev `ifindex` in `table`.
    pub(crate) async fn add_route(
        &self,
        peer: IpAddr,
        ifindex: u32,
        table: u32,
    ) -> Result<(), TunError> {
        let request = self
            .handle
            .route()
            .add(peer_route(peer, ifindex, table))
            .replace();
        bounded("add route", request.execute()).await
    }

    /// Deletes the tagged route `peer` dev `ifindex` in `table`; a route
    /// that is already gone (its device was removed) counts as deleted.
    pub(crate) async fn del_route(
        &self,
        peer: IpAddr,
        ifindex: u32,
        table: u32,
    ) -> Result<(), TunError> {
        let request = self.handle.route().del(peer_route(peer, ifindex, table));
        match bounded("delete route", request.execute()).await {
            Err(TunError::Netlink {
                source: rtnetlink::Error::NetlinkError(message),
                ..
            }) if message.raw_code().abs() == ESRCH => Ok(()),
            other => other,
        }
    }

    /// Adds `ip rule from source lookup table priority RULE_PRIORITY`.
    pub(crate) async fn add_rule(&self, source: IpAddr, table: u32) -> Result<(), TunError> {
        let rule = self
            .handle
            .rule()
            .add()
            .table_id(table)
            .priority(RULE_PRIORITY)
            .action(RuleAction::ToTable);
        match source {
            IpAddr::V4(ip) => bounded("add rule", rule.v4().source_prefix(ip, 32).execute()).await,
            IpAddr::V6(ip) => bounded("add rule", rule.v6().source_prefix(ip, 128).execute()).await,
        }
    }

    /// Deletes every tagged route (all tables, both families) and every rule
    /// at [`RULE_PRIORITY`] that looks up `table`.
    pub(crate) async fn sweep(&self, table: u32) -> Result<Swept, TunError> {
        let mut swept = Swept::default();
        let dumps = [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ];
        for dump in dumps {
            let routes = bounded("dump routes", async {
                self.handle
                    .route()
                    .get(dump)
                    .execute()
                    .try_filter(|r| std::future::ready(is_tagged(r)))
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
            for route in routes {
                tracing::debug!(table = route_table(&route), "deleting stale tagged route");
                bounded("delete route", self.handle.route().del(route).execute()).await?;
                swept.routes += 1;
            }
        }
        swept.rules = self.del_rules(table).await?;
        Ok(swept)
    }

    /// Deletes the rules at [`RULE_PRIORITY`] that look up `table` (what
    /// [`Netlink::add_rule`] added), both families.
    pub(crate) async fn del_rules(&self, table: u32) -> Result<usize, TunError> {
        let mut deleted = 0;
        for version in [IpVersion::V4, IpVersion::V6] {
            let rules = bounded("dump rules", async {
                self.handle
                    .rule()
                    .get(version)
                    .execute()
                    .try_filter(|r| {
                        std::future::ready(
                            rule_priority(r) == Some(RULE_PRIORITY) && rule_table(r) == table,
                        )
                    })
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
            for rule in rules {
                bounded("delete rule", self.handle.rule().del(rule).execute()).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_routes_carry_the_tag_the_table_and_the_device() {
        let route = peer_route("203.0.113.7".parse().unwrap(), 42, 7777);
        assert_eq!(
            route.header.protocol,
            RouteProtocol::Other(ROUTE_PROTOCOL_TAG)
        );
        assert_eq!(route.header.destination_prefix_length, 32);
        assert_eq!(route.header.scope, RouteScope::Link);
        assert_eq!(route_table(&route), 7777);
        assert!(is_tagged(&route));
        assert!(route.attributes.contains(&RouteAttribute::Oif(42)));

        let route6 = peer_route("2001:db8::7".parse().unwrap(), 42, MAIN_TABLE);
        assert_eq!(route6.header.destination_prefix_length, 128);
        assert_eq!(route_table(&route6), MAIN_TABLE);
    }

    #[test]
    fn rules_are_recognised_by_priority_and_table() {
        let mut rule = RuleMessage::default();
        assert_eq!(rule_priority(&rule), None);
        rule.header.table = 100;
        assert_eq!(rule_table(&rule), 100);
        rule.attributes.push(RuleAttribute::Table(7777));
        rule.attributes.push(RuleAttribute::Priority(RULE_PRIORITY));
        assert_eq!(rule_table(&rule), 7777);
        assert_eq!(rule_priority(&rule), Some(RULE_PRIORITY));
    }
}
