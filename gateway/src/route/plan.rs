//! The decisions of the pipeline, without I/O: where a detected connection
//! goes under the current routes and HTTP-01 settings (the challenges of the
//! gateway's own ACME orders first), and how a failed peek is refused.

use std::net::IpAddr;

use portico_config::model::{Backend, BackendTls, Http01, ProxyVersion, Target};
use portico_sniff::{Detection, Error as SniffError, Hostname, Protocol, ProtocolSet, ProxyTarget};

use super::http01::{self, Decision};
use super::table::{Counters, Key, MatchedBy, RouteEntry, RouteTable};
use crate::accept::PeekError;
use crate::acme::{ChallengeStore, http01_response};
use crate::handshake::{Ask, Identity, Users};
use crate::refuse::Reason;

/// The part of the configuration a reload replaces as one snapshot.
#[derive(Debug, Default)]
pub struct State {
    /// The route table.
    pub routes: RouteTable,
    /// `[http01]`.
    pub http01: Option<Http01>,
    /// `[[user]]`, for the proxy handshakes.
    pub(crate) users: Users,
}

/// A decided connection as routing sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// What detection found.
    pub detection: &'a Detection,
    /// The name of the listener it came in on, if it has one.
    pub listener: Option<&'a str>,
    /// The client's address (after a PROXY header).
    pub client: IpAddr,
    /// The gateway port the client reached.
    pub reached_port: u16,
    /// What a proxy client (`connect`, `socks5`) asked for.
    pub ask: Option<&'a Ask>,
}

/// The target a route with `exit = true` passes to the tunnel client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The host asked for (an IP literal as its text).
    pub host: Hostname,
    /// The port asked for.
    pub port: u16,
}

/// Whether `buf` starts like an HTTP/1.x request line (a method token and a
/// space), to answer a timed-out request with `408`.
fn looks_like_http(buf: &[u8]) -> bool {
    let method_len = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    method_len > 0 && buf.get(method_len) == Some(&b' ')
}

/// The protocol and reason a failed peek is refused with.
pub fn classify(
    error: PeekError,
    buf: &[u8],
    protocols: ProtocolSet,
) -> (Option<Protocol>, Reason) {
    match error {
        PeekError::Timeout if protocols.contains(Protocol::Http) && looks_like_http(buf) => {
            (Some(Protocol::Http), Reason::Timeout)
        }
        PeekError::Timeout | PeekError::Closed => (None, Reason::Timeout),
        PeekError::Sniff(SniffError::NoMatch) => (None, Reason::NoMatch),
        PeekError::Sniff(SniffError::Malformed { protocol, .. }) => {
            (Some(protocol), Reason::Malformed)
        }
        PeekError::Sniff(SniffError::TooLarge { protocol }) => (Some(protocol), Reason::TooLarge),
        PeekError::ProxyRequired => (None, Reason::ProxyRequired),
        PeekError::ProxyForbidden => (None, Reason::ProxyForbidden),
        PeekError::Full => (None, Reason::TooLarge),
        PeekError::Fragmented => (None, Reason::Fragmented),
    }
}

/// What a terminating route does with a TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminatePlan {
    /// Where the plaintext goes.
    pub backend: Backend,
    /// The PROXY header sent to the backend first.
    pub proxy_protocol: Option<ProxyVersion>,
    /// The ALPN protocols offered to the client.
    pub alpn: Vec<Vec<u8>>,
    /// TLS again to the backend (`backend_tls = true`).
    pub backend_tls: Option<BackendTls>,
}

/// Where a decided connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// To this backend, with this PROXY header.
    Forward(Backend, Option<ProxyVersion>),
    /// Complete TLS here, then forward the plaintext (boxed: few
    /// connections take this way).
    Terminate(Box<TerminatePlan>),
    /// Answer with these bytes (the gateway's own HTTP-01 challenge) and close.
    Answer(Vec<u8>),
    /// Into the tunnel of this name; for an `exit = true` route, with the
    /// target the tunnel client is to dial.
    Tunnel(String, Option<Exit>),
    /// Answer with these bytes (an HTTP-01 redirect) and close.
    Redirect(Vec<u8>),
    /// Refuse, for this reason, with this detail for the log.
    Refuse(Reason, String),
}

/// Picks where `request` goes under the current `state`. A challenge of
/// the gateway's own ACME orders (a token in `own`) is answered here, before
/// any `[http01]` forwarding or redirect; then the route table decides, and
/// the route's access rules (`allow`/`deny`, `users`, `ports`) may still
/// refuse.
#[cfg(test)]
pub(crate) fn plan(state: &State, request: &Request<'_>, own: Option<&ChallengeStore>) -> Plan {
    plan_routed(state, request, own).0
}

/// [`plan`], with the counters of the route that takes the connection
/// (none for a refusal or an HTTP-01 decision).
pub(crate) fn plan_routed(
    state: &State,
    request: &Request<'_>,
    own: Option<&ChallengeStore>,
) -> (Plan, Option<Counters>) {
    let detection = request.detection;
    if let (Some(store), Some(http)) = (own, &detection.http)
        && detection.protocol == Protocol::Http
        && let Some(bytes) = http01_response(store, &http.path)
    {
        return (Plan::Answer(bytes), None);
    }
    match http01::decide(state.http01.as_ref(), detection) {
        Decision::Redirect(bytes) => return (Plan::Redirect(bytes), None),
        Decision::Forward(backend) => return (Plan::Forward(backend.clone(), None), None),
        Decision::Route => {}
    }
    let asked = request.ask.map(|ask| ask.target.to_hostname());
    let key = Key {
        host: asked.as_ref().or(detection.host.as_ref()),
        protocol: detection.protocol,
        listener: request.listener,
    };
    let Some((route, matched)) = state.routes.find(key) else {
        return (Plan::Refuse(Reason::NoRoute, "no route".to_owned()), None);
    };
    if !route.access.admits_client(request.client) {
        return (
            Plan::Refuse(Reason::Denied, "client address not allowed".to_owned()),
            None,
        );
    }
    let plan = match request.ask {
        Some(ask) => plan_proxy(route, matched, ask, request.reached_port),
        None => plan_plain(route, detection),
    };
    let counters = (!matches!(plan, Plan::Refuse(..))).then(|| route.counters.clone());
    (plan, counters)
}

/// The plan for a connection that is not a proxy client.
fn plan_plain(route: &RouteEntry, detection: &Detection) -> Plan {
    match &route.target {
        Target::Backend(backend) => {
            // A dial line's port, where the route lists the ports it admits.
            let mut backend = backend.clone();
            if detection.protocol == Protocol::Dial
                && !route.access.ports.is_empty()
                && let Some(port) = detection.port
            {
                if !route.access.ports.contains(&port) {
                    return Plan::Refuse(Reason::Denied, format!("port {port} not allowed"));
                }
                backend.port = backend.port.or(Some(port));
            }
            if route.terminate_tls && detection.protocol == Protocol::Tls {
                Plan::Terminate(Box::new(TerminatePlan {
                    backend,
                    proxy_protocol: route.proxy_protocol,
                    alpn: route.alpn.clone(),
                    backend_tls: route.backend_tls.clone(),
                }))
            } else {
                Plan::Forward(backend, route.proxy_protocol)
            }
        }
        Target::Tunnel(name) => Plan::Tunnel(name.clone(), None),
    }
}

/// The plan for a `connect` or `socks5` client: its credentials, target and
/// port judged by the route it reached. Never an open proxy: the target
/// only picks the route, and an IP literal only reaches a route that names
/// it (or an `exit = true` route, whose tunnel client judges it).
fn plan_proxy(route: &RouteEntry, matched: MatchedBy, ask: &Ask, reached_port: u16) -> Plan {
    let access = &route.access;
    if matches!(ask.target, ProxyTarget::Ip(_)) && matched == MatchedBy::Any && !access.exit {
        return Plan::Refuse(
            Reason::NoRoute,
            "an IP literal target needs a route naming it".to_owned(),
        );
    }
    match &ask.identity {
        Identity::Rejected(why) => {
            return Plan::Refuse(Reason::AuthRequired, why.as_str().to_owned());
        }
        Identity::User(user) if !access.users.is_empty() && !access.users.contains(user) => {
            return Plan::Refuse(
                Reason::AuthRequired,
                format!("user {user} may not use this route"),
            );
        }
        Identity::Anonymous if !access.users.is_empty() => {
            return Plan::Refuse(Reason::AuthRequired, "credentials required".to_owned());
        }
        Identity::User(_) | Identity::Anonymous => {}
    }
    let port = ask.port;
    let admitted = if access.ports.is_empty() {
        match &route.target {
            Target::Backend(backend) => backend.port.unwrap_or(reached_port) == port,
            // The service's own address (or the exit list) decides.
            Target::Tunnel(_) => true,
        }
    } else {
        access.ports.contains(&port)
    };
    if !admitted {
        return Plan::Refuse(Reason::Denied, format!("port {port} not allowed"));
    }
    match &route.target {
        Target::Backend(backend) => {
            let backend = Backend {
                host: backend.host.clone(),
                port: Some(backend.port.unwrap_or(port)),
            };
            Plan::Forward(backend, route.proxy_protocol)
        }
        Target::Tunnel(name) => {
            let exit = access.exit.then(|| Exit {
                host: ask.target.to_hostname(),
                port,
            });
            Plan::Tunnel(name.clone(), exit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::plan`] for a client of no proxy protocol on an unnamed listener.
    fn plan(state: &State, detection: &Detection, own: Option<&ChallengeStore>) -> Plan {
        let request = Request {
            detection,
            listener: None,
            client: IpAddr::from([192, 0, 2, 1]),
            reached_port: 443,
            ask: None,
        };
        super::plan(state, &request, own)
    }

    #[test]
    fn timeouts_answer_408_only_to_what_looks_like_http() {
        let all = ProtocolSet::NAMED;
        assert_eq!(
            classify(PeekError::Timeout, b"GET /x HTT", all),
            (Some(Protocol::Http), Reason::Timeout)
        );
        assert_eq!(
            classify(PeekError::Timeout, b"", all),
            (None, Reason::Timeout)
        );
        assert_eq!(
            classify(PeekError::Timeout, b"\x16\x03\x01", all),
            (None, Reason::Timeout)
        );
        let no_http = ProtocolSet::only(Protocol::Tls);
        assert_eq!(
            classify(PeekError::Timeout, b"GET / HTTP", no_http),
            (None, Reason::Timeout)
        );
    }

    #[test]
    fn sniff_errors_keep_their_protocol() {
        let all = ProtocolSet::NAMED;
        assert_eq!(
            classify(
                PeekError::Sniff(SniffError::TooLarge {
                    protocol: Protocol::Http
                }),
                b"",
                all
            ),
            (Some(Protocol::Http), Reason::TooLarge)
        );
        assert_eq!(
            classify(
                PeekError::Sniff(SniffError::Malformed {
                    protocol: Protocol::Tls,
                    reason: portico_sniff::Malformed::TlsHello
                }),
                b"",
                all
            ),
            (Some(Protocol::Tls), Reason::Malformed)
        );
        assert_eq!(
            classify(PeekError::Sniff(SniffError::NoMatch), b"", all),
            (None, Reason::NoMatch)
        );
        assert_eq!(
            classify(PeekError::ProxyForbidden, b"", all),
            (None, Reason::ProxyForbidden)
        );
    }

    fn detection(host: &str, path: &str) -> Detection {
        Detection {
            protocol: Protocol::Http,
            host: Some(Hostname::parse(host.as_bytes()).expect("host")),
            port: None,
            consume: 0,
            tls: None,
            connect: None,
            socks5: None,
            http: Some(portico_sniff::Http {
                method: "GET".into(),
                path: path.into(),
                h2_preface: false,
                minor_version: 1,
            }),
        }
    }

    fn state(target: Target, http01: Option<Http01>) -> State {
        state_terminating(target, http01, false)
    }

    fn state_terminating(target: Target, http01: Option<Http01>, terminate_tls: bool) -> State {
        let route = portico_config::model::Route {
            hosts: vec![portico_config::HostPattern::Any],
            protocols: ProtocolSet::NAMED,
            target,
            proxy_protocol: Some(ProxyVersion::V2),
            terminate_tls,
            alpn: portico_config::model::Route::default_alpn(),
            access: Default::default(),
            backend_tls: None,
        };
        State {
            routes: RouteTable::build(&[route], true).expect("table"),
            http01,
            users: Users::default(),
        }
    }

    #[test]
    fn plan_follows_http01_then_routes() {
        let web = Backend {
            host: "192.0.2.1".into(),
            port: Some(80),
        };
        let acme = Backend {
            host: "192.0.2.5".into(),
            port: None,
        };
        let http01 = Http01 {
            action: portico_config::model::Http01Action::Forward(acme.clone()),
            hosts: Vec::new(),
        };
        let s = state(Target::Backend(web.clone()), Some(http01));
        assert_eq!(
            plan(
                &s,
                &detection("a.test", "/.well-known/acme-challenge/x"),
                None
            ),
            Plan::Forward(acme, None)
        );
        assert_eq!(
            plan(&s, &detection("a.test", "/"), None),
            Plan::Forward(web, Some(ProxyVersion::V2))
        );
    }

    #[test]
    fn plan_sends_tunnel_routes_to_the_tunnel_and_refuses_unknown_names() {
        let s = state(Target::Tunnel("home".into()), None);
        assert_eq!(
            plan(&s, &detection("a.test", "/"), None),
            Plan::Tunnel("home".into(), None)
        );
        let empty = State::default();
        assert_eq!(
            plan(&empty, &detection("a.test", "/"), None),
            Plan::Refuse(Reason::NoRoute, "no route".into())
        );
    }

    #[test]
    fn own_challenges_come_before_http01_forwarding() {
        let acme = Backend {
            host: "192.0.2.5".into(),
            port: None,
        };
        let http01 = Http01 {
            action: portico_config::model::Http01Action::Forward(acme.clone()),
            hosts: Vec::new(),
        };
        let web = Backend {
            host: "192.0.2.1".into(),
            port: Some(80),
        };
        let s = state(Target::Backend(web), Some(http01));
        let store = ChallengeStore::default();
        let mut guard = store.guard();
        guard.insert("ours".into(), "ours.thumb".into());
        let Plan::Answer(bytes) = plan(
            &s,
            &detection("a.test", "/.well-known/acme-challenge/ours"),
            Some(&store),
        ) else {
            panic!("own token not answered");
        };
        assert!(bytes.ends_with(b"\r\n\r\nours.thumb"));
        assert_eq!(
            plan(
                &s,
                &detection("a.test", "/.well-known/acme-challenge/theirs"),
                Some(&store)
            ),
            Plan::Forward(acme.clone(), None)
        );
        drop(guard);
        assert_eq!(
            plan(
                &s,
                &detection("a.test", "/.well-known/acme-challenge/ours"),
                Some(&store)
            ),
            Plan::Forward(acme, None)
        );
    }

    #[test]
    fn terminating_routes_terminate_tls_only() {
        let web = Backend {
            host: "192.0.2.1".into(),
            port: Some(8080),
        };
        let s = state_terminating(Target::Backend(web.clone()), None, true);
        let mut tls = detection("app.test", "/");
        tls.protocol = Protocol::Tls;
        tls.http = None;
        assert_eq!(
            plan(&s, &tls, None),
            Plan::Terminate(Box::new(TerminatePlan {
                backend: web.clone(),
                proxy_protocol: Some(ProxyVersion::V2),
                alpn: vec![b"http/1.1".to_vec()],
                backend_tls: None,
            }))
        );
        assert_eq!(
            plan(&s, &detection("app.test", "/"), None),
            Plan::Forward(web, Some(ProxyVersion::V2))
        );
    }
}
