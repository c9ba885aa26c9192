//! The running `[[service]]` table: which local service takes a forwarded
//! connection for a hostname. Matching follows the gateway's routes: an
//! exact name, then the longest wildcard, then `*`.

use portico_config::model::Service;
use portico_sniff::Hostname;

/// An immutable snapshot of the configured services; a reload replaces the
/// whole table.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceTable {
    /// In configuration order: among equally specific matches the first wins.
    services: Vec<Service>,
}

impl ServiceTable {
    /// A table of `services`.
    pub(crate) fn new(services: Vec<Service>) -> Self {
        ServiceTable { services }
    }

    /// The service for a connection to `host` (`None`: the connection named
    /// no host, which only `*` takes).
    pub(crate) fn lookup(&self, host: Option<&Hostname>) -> Option<&Service> {
        let mut best: Option<(&Service, portico_config::Specificity)> = None;
        for service in &self.services {
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
        table.lookup(host.as_ref()).map(|s| s.to.port())
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
        assert!(ServiceTable::default().lookup(None).is_none());
    }

    #[test]
    fn first_of_equally_specific_matches_wins() {
        let table = ServiceTable::new(vec![service(&["*"], 1), service(&["*"], 2)]);
        assert_eq!(port_for(&table, Some("a.test")), Some(1));
        assert_eq!(table.len(), 2);
    }
}
