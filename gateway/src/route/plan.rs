//! The decisions of the pipeline, without I/O: where a detected connection
//! goes under the current routes and HTTP-01 settings (the challenges of the
//! gateway's own ACME orders first), and how a failed peek is refused.

use portico_config::model::{Backend, Http01, ProxyVersion, Target};
use portico_sniff::{Detection, Error as SniffError, Protocol, ProtocolSet};

use super::http01::{self, Decision};
use super::table::{RouteEntry, RouteTable};
use crate::accept::PeekError;
use crate::acme::{ChallengeStore, http01_response};
use crate::refuse::Reason;

/// The part of the configuration a reload replaces as one snapshot.
#[derive(Debug, Default)]
pub struct State {
    /// The route table.
    pub routes: RouteTable,
    /// `[http01]`.
    pub http01: Option<Http01>,
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

/// Where a decided connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// To this backend, with this PROXY header.
    Forward(Backend, Option<ProxyVersion>),
    /// Complete TLS here (offering these ALPN protocols), then forward the
    /// plaintext to this backend with this PROXY header.
    Terminate(Backend, Option<ProxyVersion>, Vec<Vec<u8>>),
    /// Answer with these bytes (the gateway's own HTTP-01 challenge) and close.
    Answer(Vec<u8>),
    /// Into the tunnel of this name.
    Tunnel(String),
    /// Answer with these bytes (an HTTP-01 redirect) and close.
    Redirect(Vec<u8>),
    /// Refuse, for this reason, with this detail for the log.
    Refuse(Reason, String),
}

/// Picks where `detection` goes under the current `state`. A challenge of
/// the gateway's own ACME orders (a token in `own`) is answered here, before
/// any `[http01]` forwarding or redirect.
pub fn plan(state: &State, detection: &Detection, own: Option<&ChallengeStore>) -> Plan {
    if let (Some(store), Some(http)) = (own, &detection.http)
        && detection.protocol == Protocol::Http
        && let Some(bytes) = http01_response(store, &http.path)
    {
        return Plan::Answer(bytes);
    }
    match http01::decide(state.http01.as_ref(), detection) {
        Decision::Redirect(bytes) => return Plan::Redirect(bytes),
        Decision::Forward(backend) => return Plan::Forward(backend.clone(), None),
        Decision::Route => {}
    }
    match state
        .routes
        .lookup(detection.host.as_ref(), detection.protocol)
    {
        Some(RouteEntry {
            target: Target::Backend(backend),
            proxy_protocol,
            terminate_tls,
            alpn,
            ..
        }) => {
            if *terminate_tls && detection.protocol == Protocol::Tls {
                Plan::Terminate(backend.clone(), *proxy_protocol, alpn.clone())
            } else {
                Plan::Forward(backend.clone(), *proxy_protocol)
            }
        }
        Some(RouteEntry {
            target: Target::Tunnel(name),
            ..
        }) => Plan::Tunnel(name.clone()),
        None => Plan::Refuse(Reason::NoRoute, "no route".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_sniff::Hostname;

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
        };
        State {
            routes: RouteTable::build(&[route], true).expect("table"),
            http01,
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
            Plan::Tunnel("home".into())
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
            Plan::Terminate(
                web.clone(),
                Some(ProxyVersion::V2),
                vec![b"http/1.1".to_vec()]
            )
        );
        assert_eq!(
            plan(&s, &detection("app.test", "/"), None),
            Plan::Forward(web, Some(ProxyVersion::V2))
        );
    }
}
