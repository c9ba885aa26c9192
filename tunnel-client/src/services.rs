//! The running `[[service]]` table: which local service takes a forwarded
//! connection for a hostname. Matching follows the gateway's routes: an
//! exact name, then the longest wildcard, then `*`; a service with `ports`
//! only takes connections that reached one of those gateway ports. The
//! `[[exit]]` list of the same configuration travels with it.

use portico_config::model::Service;
use portico_sniff::Hostname;

use crate::exits::ExitList;

/// An immutable snapshot of the configured services and exits; a reload
/// replaces the whole table.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceTable {
    /// In configuration order: among equally specific matches the first wins.
    services: Vec<Service>,
    /// What `exit = true` routes may dial.
    exits: ExitList,
}

impl ServiceTable {
    /// A table of `services`, with no exits.
    pub(crate) fn new(services: Vec<Service>) -> Self {
        ServiceTable {
            services,
            exits: ExitList::default(),
        }
    }

    /// This table with `exits`.
    pub(crate) fn with_exits(self, exits: ExitList) -> Self {
        ServiceTable { exits, ..self }
    }

    /// The exit list.
    pub(crate) fn exits(&self) -> &ExitList {
        &self.exits
    }

    /// The service for a connection to `host` (`None`: the connection named
    /// no host, which only `*` takes) that reached gateway port `port`.
    pub(crate) fn lookup(&self, host: Option<&Hostname>, port: u16) -> Option<&Service> {
        let mut best: Option<(&Service, portico_config::Specificity)> = None;
        for service in self
            .services
            .iter()
            .filter(|s| s.ports.is_empty() || s.ports.contains(&port))
        {
            let specificity = service
                .hosts
                .iter()
                .filter(|pattern| pattern.matches(host))
                .map(|pattern| pattern.specificity())
                .max();
            if let Some(specificity) = specificity
                && best.is_none_or(|(_, current)| specificity > current)
            {
                best = Some((service, specificity));
            }
        }
        best.map(|(service, _)| service)
    }

    /// How many services the table holds.
    pub(crate) fn len(&self) -> usize {
        self.services.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_config::HostPattern;
    use portico_config::model::SourceMode;

    fn service(hosts: &[&str], port: u16) -> Service {
        Service {
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            to: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            source: SourceMode::Tunnel,
            proxy_protocol: None,
            ports: Vec::new(),
        }
    }

    fn port_for(table: &ServiceTable, host: Option<&str>) -> Option<u16> {
        let host = host.map(|h| Hostname::parse_str(h).unwrap());
        table.lookup(host.as_ref(), 443).map(|s| s.to.port())
    }

    #[test]
    fn exact_beats_longest_wildcard_beats_any() {
        let table = ServiceTable::new(vec![
            service(&["*"], 1),
            service(&["*.example.org"], 2),
            service(&["*.wiki.example.org"], 3),
            service(&["wiki.example.org"], 4),
        ]);
        assert_eq!(port_for(&table, Some("wiki.example.org")), Some(4));
        assert_eq!(port_for(&table, Some("a.wiki.example.org")), Some(3));
        assert_eq!(port_for(&table, Some("b.example.org")), Some(2));
        assert_eq!(port_for(&table, Some("example.org")), Some(1));
        assert_eq!(port_for(&table, Some("other.test")), Some(1));
        assert_eq!(port_for(&table, None), Some(1));
    }

    #[test]
    fn no_match_without_a_default() {
        let table = ServiceTable::new(vec![service(&["wiki.test", "*.wiki.test"], 1)]);
        assert_eq!(port_for(&table, Some("WIKI.test")), Some(1));
        assert_eq!(port_for(&table, Some("x.wiki.test")), Some(1));
        assert_eq!(port_for(&table, Some("wiki.test.evil")), None);
        assert_eq!(port_for(&table, Some("xwiki.test")), None);
        assert_eq!(port_for(&table, None), None);
        assert!(ServiceTable::default().lookup(None, 443).is_none());
    }

    #[test]
    fn first_of_equally_specific_matches_wins() {
        let table = ServiceTable::new(vec![service(&["*"], 1), service(&["*"], 2)]);
        assert_eq!(port_for(&table, Some("a.test")), Some(1));
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn nameless_services_share_a_tunnel_by_gateway_port() {
        let mut smtp = service(&["*"], 25);
        smtp.ports = vec![25];
        let mut ssh = service(&["*"], 22);
        ssh.ports = vec![22, 2222];
        let table = ServiceTable::new(vec![smtp, ssh, service(&["*"], 1)]);
        let port = |reached| table.lookup(None, reached).map(|s| s.to.port());
        assert_eq!(port(25), Some(25));
        assert_eq!(port(2222), Some(22));
        assert_eq!(port(22), Some(22));
        assert_eq!(port(443), Some(1), "a service without ports takes the rest");
    }
}
