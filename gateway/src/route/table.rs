//! The running route table: an immutable snapshot built from the `[[route]]`
//! sections, answering "which route serves this name for this protocol".
//!
//! Precedence: an exact name beats a `*.` wildcard, a longer wildcard beats
//! a shorter one, `*` comes last; within one level, the first route in file
//! order whose protocol filter admits the protocol and whose `listeners`
//! filter admits the listener wins. A reload builds a new table and swaps
//! it in whole.

use std::collections::HashMap;

use portico_config::HostPattern;
use portico_config::model::{Access, BackendTls, ProxyVersion, Route, Target};
use portico_sniff::{Hostname, Protocol, ProtocolSet};

use crate::metrics::RouteCounters;

/// Why a route table cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A route asks the gateway to complete TLS but the gateway has no
    /// certificates (`[acme]` or `[[certificate]]`).
    #[error(
        "route for {route}: terminate_tls = true needs a certificate: an [acme] section or a [[certificate]]"
    )]
    TerminateTlsWithoutAcme {
        /// The route's host patterns, for the message.
        route: String,
    },
    /// A tunnel route asks the gateway to complete TLS; only backend routes can.
    #[error(
        "route for {route}: terminate_tls = true applies to backend routes; \
         a tunnel carries the TLS to the service behind it"
    )]
    TerminateTlsTunnel {
        /// The route's host patterns, for the message.
        route: String,
    },
}

/// One route as the connection pipeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The route's host patterns as written, joined with `,` (for logs).
    pub label: String,
    /// Where the traffic goes.
    pub target: Target,
    /// PROXY header to prepend, if any.
    pub proxy_protocol: Option<ProxyVersion>,
    /// Protocols this route admits.
    pub protocols: ProtocolSet,
    /// Complete TLS here and forward the plaintext.
    pub terminate_tls: bool,
    /// ALPN protocols offered when terminating, in preference order.
    pub alpn: Vec<Vec<u8>>,
    /// TLS again to the backend of a terminating route.
    pub backend_tls: Option<BackendTls>,
    /// Who may use the route and what they may ask of it.
    pub access: Access,
    /// Its counters for the console.
    pub counters: Counters,
}

/// A route's counters inside its entry. Two entries compare equal whatever
/// their counters say: the counters are not part of what a route is.
#[derive(Debug, Clone, Default)]
pub struct Counters(pub std::sync::Arc<RouteCounters>);

impl PartialEq for Counters {
    fn eq(&self, _: &Counters) -> bool {
        true
    }
}

impl Eq for Counters {}

/// How a route matched a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// An exact name or a `*.` wildcard: the route names the host.
    Name,
    /// `*`: the route takes any host.
    Any,
}

/// A connection as the table matches it.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// The name asked for, if any.
    pub host: Option<&'a Hostname>,
    /// The protocol recognised.
    pub protocol: Protocol,
    /// The name of the listener it came in on, if the listener has one.
    pub listener: Option<&'a str>,
}

/// Routes indexed by host pattern.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    entries: Vec<RouteEntry>,
    exact: HashMap<Box<str>, Vec<usize>>,
    wildcard: HashMap<Box<str>, Vec<usize>>,
    any: Vec<usize>,
}

impl RouteTable {
    /// Builds the table from routes in file order; `terminate_tls` routes
    /// need `certificates` (`[acme]` or `[[certificate]]`) and a backend
    /// target.
    pub fn build(routes: &[Route], certificates: bool) -> Result<RouteTable, RouteError> {
        RouteTable::build_after(routes, certificates, None)
    }

    /// [`RouteTable::build`] for a reload: a route whose host patterns are
    /// those of a route in `previous` keeps counting in its counters.
    pub fn build_after(
        routes: &[Route],
        certificates: bool,
        previous: Option<&RouteTable>,
    ) -> Result<RouteTable, RouteError> {
        let mut table = RouteTable::default();
        for route in routes {
            let label = route
                .hosts
                .iter()
                .map(HostPattern::to_string)
                .collect::<Vec<_>>()
                .join(",");
            if route.terminate_tls && !certificates {
                return Err(RouteError::TerminateTlsWithoutAcme { route: label });
            }
            if route.terminate_tls && matches!(route.target, Target::Tunnel(_)) {
                return Err(RouteError::TerminateTlsTunnel { route: label });
            }
            let index = table.entries.len();
            let counters = previous
                .and_then(|p| p.entries.iter().find(|e| e.label == label))
                .map(|e| e.counters.clone())
                .unwrap_or_default();
            table.entries.push(RouteEntry {
                counters,
                label,
                target: route.target.clone(),
                proxy_protocol: route.proxy_protocol,
                protocols: route.protocols,
                terminate_tls: route.terminate_tls,
                alpn: route.alpn.iter().map(|p| p.as_bytes().to_vec()).collect(),
                access: route.access.clone(),
                backend_tls: route.backend_tls.clone(),
            });
            for pattern in &route.hosts {
                match pattern {
                    HostPattern::Exact(name) => {
                        table
                            .exact
                            .entry(name.as_str().into())
                            .or_default()
                            .push(index);
                    }
                    HostPattern::Wildcard(suffix) => {
                        table
                            .wildcard
                            .entry(suffix.as_str().into())
                            .or_default()
                            .push(index);
                    }
                    HostPattern::Any => table.any.push(index),
                }
            }
        }
        Ok(table)
    }

    /// The routes in file order.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    /// How many routes the table holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The route serving `host` over `protocol` on an unnamed listener, if
    /// any. A connection without a hostname is served only by a `*` route.
    #[cfg(test)]
    pub fn lookup(&self, host: Option<&Hostname>, protocol: Protocol) -> Option<&RouteEntry> {
        let key = Key {
            host,
            protocol,
            listener: None,
        };
        self.find(key).map(|(entry, _)| entry)
    }

    /// The route serving `key`, if any, and how it matched. A connection
    /// without a hostname is served only by a `*` route.
    pub fn find(&self, key: Key<'_>) -> Option<(&RouteEntry, MatchedBy)> {
        if let Some(host) = key.host {
            let name = host.as_str();
            if let Some(found) = self.first_admitting(self.exact.get(name), key) {
                return Some((found, MatchedBy::Name));
            }
            // Suffixes after each dot, longest first: a.b.c → b.c → c.
            let mut rest = name;
            while let Some((_, suffix)) = rest.split_once('.') {
                if let Some(found) = self.first_admitting(self.wildcard.get(suffix), key) {
                    return Some((found, MatchedBy::Name));
                }
                rest = suffix;
            }
        }
        self.first_admitting(Some(&self.any), key)
            .map(|found| (found, MatchedBy::Any))
    }

    fn first_admitting(
        &self,
        candidates: Option<&Vec<usize>>,
        key: Key<'_>,
    ) -> Option<&RouteEntry> {
        candidates?
            .iter()
            .filter_map(|&i| self.entries.get(i))
            .find(|entry| {
                entry.protocols.contains(key.protocol) && entry.access.admits_listener(key.listener)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_config::model::Backend;

    pub(crate) fn host(name: &str) -> Hostname {
        Hostname::parse(name.as_bytes()).expect("valid hostname in test")
    }

    fn pattern(text: &str) -> HostPattern {
        if text == "*" {
            HostPattern::Any
        } else if let Some(suffix) = text.strip_prefix("*.") {
            HostPattern::Wildcard(host(suffix))
        } else {
            HostPattern::Exact(host(text))
        }
    }

    fn route(hosts: &[&str], backend: &str, protocols: ProtocolSet) -> Route {
        Route {
            hosts: hosts.iter().map(|h| pattern(h)).collect(),
            protocols,
            target: Target::Backend(Backend {
                host: backend.to_owned(),
                port: Some(1),
            }),
            proxy_protocol: None,
            terminate_tls: false,
            alpn: portico_config::model::Route::default_alpn(),
            access: Default::default(),
            backend_tls: None,
        }
    }

    fn backend_of(table: &RouteTable, name: Option<&str>, protocol: Protocol) -> Option<String> {
        let name = name.map(host);
        table
            .lookup(name.as_ref(), protocol)
            .map(|e| match &e.target {
                Target::Backend(b) => b.host.clone(),
                Target::Tunnel(t) => format!("tunnel:{t}"),
            })
    }

    fn table(routes: Vec<Route>) -> RouteTable {
        RouteTable::build(&routes, false).expect("table builds")
    }

    #[test]
    fn exact_beats_wildcard_and_any() {
        let t = table(vec![
            route(&["*"], "any", ProtocolSet::NAMED),
            route(&["*.example.org"], "wild", ProtocolSet::NAMED),
            route(&["www.example.org"], "exact", ProtocolSet::NAMED),
        ]);
        assert_eq!(
            backend_of(&t, Some("www.example.org"), Protocol::Http).as_deref(),
            Some("exact")
        );
        assert_eq!(
            backend_of(&t, Some("mail.example.org"), Protocol::Http).as_deref(),
            Some("wild")
        );
        assert_eq!(
            backend_of(&t, Some("example.net"), Protocol::Http).as_deref(),
            Some("any")
        );
    }

    #[test]
    fn longer_wildcard_beats_shorter() {
        let t = table(vec![
            route(&["*.example.org"], "short", ProtocolSet::NAMED),
            route(&["*.b.example.org"], "long", ProtocolSet::NAMED),
        ]);
        assert_eq!(
            backend_of(&t, Some("a.b.example.org"), Protocol::Tls).as_deref(),
            Some("long")
        );
        assert_eq!(
            backend_of(&t, Some("x.y.a.b.example.org"), Protocol::Tls).as_deref(),
            Some("long")
        );
        assert_eq!(
            backend_of(&t, Some("c.example.org"), Protocol::Tls).as_deref(),
            Some("short")
        );
        // The wildcard's own suffix is matched by the shorter wildcard only.
        assert_eq!(
            backend_of(&t, Some("b.example.org"), Protocol::Tls).as_deref(),
            Some("short")
        );
    }

    #[test]
    fn wildcard_does_not_match_its_suffix() {
        let t = table(vec![route(&["*.example.org"], "wild", ProtocolSet::NAMED)]);
        assert_eq!(backend_of(&t, Some("example.org"), Protocol::Http), None);
        assert_eq!(
            backend_of(&t, Some("deep.er.example.org"), Protocol::Http).as_deref(),
            Some("wild")
        );
        assert_eq!(backend_of(&t, Some("notexample.org"), Protocol::Http), None);
    }

    #[test]
    fn no_host_only_matches_any() {
        let t = table(vec![route(
            &["example.org", "*.example.org"],
            "named",
            ProtocolSet::NAMED,
        )]);
        assert_eq!(backend_of(&t, None, Protocol::Tls), None);
        let t = table(vec![
            route(&["example.org"], "named", ProtocolSet::NAMED),
            route(&["*"], "default", ProtocolSet::NAMED),
        ]);
        assert_eq!(
            backend_of(&t, None, Protocol::Tls).as_deref(),
            Some("default")
        );
    }

    #[test]
    fn protocol_filter_falls_through_to_next_level() {
        let tls_only = ProtocolSet::only(Protocol::Tls);
        let t = table(vec![
            route(&["example.org"], "exact-tls", tls_only),
            route(&["*.org"], "wild-http", ProtocolSet::only(Protocol::Http)),
            route(&["*"], "any-xmpp", ProtocolSet::only(Protocol::Xmpp)),
        ]);
        assert_eq!(
            backend_of(&t, Some("example.org"), Protocol::Tls).as_deref(),
            Some("exact-tls")
        );
        assert_eq!(
            backend_of(&t, Some("example.org"), Protocol::Http).as_deref(),
            Some("wild-http")
        );
        assert_eq!(
            backend_of(&t, Some("example.org"), Protocol::Xmpp).as_deref(),
            Some("any-xmpp")
        );
        assert_eq!(backend_of(&t, Some("example.org"), Protocol::Dial), None);
    }

    #[test]
    fn first_route_in_file_order_wins_within_a_level() {
        let t = table(vec![
            route(&["example.org"], "first", ProtocolSet::NAMED),
            route(&["example.org"], "second", ProtocolSet::NAMED),
        ]);
        assert_eq!(
            backend_of(&t, Some("example.org"), Protocol::Http).as_deref(),
            Some("first")
        );
    }

    #[test]
    fn tunnel_targets_are_kept() {
        let mut r = route(&["nas.example.org"], "unused", ProtocolSet::NAMED);
        r.target = Target::Tunnel("home".to_owned());
        let t = table(vec![r]);
        assert_eq!(
            backend_of(&t, Some("nas.example.org"), Protocol::Tls).as_deref(),
            Some("tunnel:home")
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn terminate_tls_needs_acme_and_a_backend_naming_the_route() {
        let mut r = route(&["app.example.org"], "b", ProtocolSet::NAMED);
        r.terminate_tls = true;
        let err = RouteTable::build(std::slice::from_ref(&r), false).expect_err("no acme");
        assert!(matches!(err, RouteError::TerminateTlsWithoutAcme { .. }));
        assert!(err.to_string().contains("app.example.org"), "{err}");
        let t = RouteTable::build(std::slice::from_ref(&r), true).expect("with acme");
        let host = host("app.example.org");
        assert!(
            t.lookup(Some(&host), Protocol::Tls)
                .is_some_and(|e| e.terminate_tls)
        );
        r.target = Target::Tunnel("home".to_owned());
        let err = RouteTable::build(&[r], true).expect_err("tunnel");
        assert!(
            matches!(err, RouteError::TerminateTlsTunnel { .. }),
            "{err}"
        );
    }
}
