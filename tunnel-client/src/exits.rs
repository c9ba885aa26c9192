//! The `[[exit]]` list: which targets a route with `exit = true` may have
//! this host dial on the gateway's behalf. None by default. A name is
//! admitted only by a name pattern (never by what it resolves to), an IP
//! literal only by a network; the port must be among the same entry's
//! `ports`.

use portico_config::model::{Exit, ExitTarget};
use portico_sniff::Hostname;

/// An immutable snapshot of the configured exits.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExitList {
    exits: Vec<Exit>,
}

impl ExitList {
    /// A list of `exits`.
    pub(crate) fn new(exits: Vec<Exit>) -> Self {
        ExitList { exits }
    }

    /// Whether `host` at `port` may be dialled.
    pub(crate) fn admits(&self, host: &Hostname, port: u16) -> bool {
        let ip = host.ip().map(|ip| ip.to_canonical());
        self.exits.iter().any(|exit| {
            exit.ports.contains(&port)
                && exit.allow.iter().any(|target| match (target, ip) {
                    (ExitTarget::Net(net), Some(ip)) => net.contains(&ip),
                    (ExitTarget::Host(pattern), None) => pattern.matches(Some(host)),
                    _ => false,
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_config::HostPattern;

    fn list() -> ExitList {
        ExitList::new(vec![Exit {
            allow: vec![
                ExitTarget::Net("192.168.1.0/24".parse().unwrap()),
                ExitTarget::Net("fd00:1::/64".parse().unwrap()),
                ExitTarget::Host(HostPattern::parse("nas.lan").unwrap()),
                ExitTarget::Host(HostPattern::parse("*.home.lan").unwrap()),
            ],
            ports: vec![22, 5000],
        }])
    }

    fn admits(list: &ExitList, host: &str, port: u16) -> bool {
        list.admits(&Hostname::parse_str(host).unwrap(), port)
    }

    #[test]
    fn networks_names_and_ports() {
        let list = list();
        assert!(admits(&list, "192.168.1.10", 5000));
        assert!(admits(&list, "fd00:1::7", 22));
        assert!(admits(&list, "nas.lan", 22));
        assert!(admits(&list, "cam.home.lan", 5000));
        assert!(!admits(&list, "192.168.1.10", 80), "port not listed");
        assert!(!admits(&list, "192.168.2.10", 22), "outside the network");
        assert!(!admits(&list, "127.0.0.1", 22), "loopback not listed");
        assert!(!admits(&list, "other.lan", 22), "name not listed");
        assert!(
            !admits(&list, "home.lan", 22),
            "a wildcard is not its suffix"
        );
    }

    #[test]
    fn nothing_by_default() {
        assert!(!admits(&ExitList::default(), "192.168.1.10", 22));
        assert!(!admits(&ExitList::default(), "nas.lan", 22));
    }
}
