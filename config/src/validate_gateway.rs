//! Validation of a parsed gateway file into [`GatewayConfig`]: listeners,
//! routes and tunnel clients, and how they refer to each other. The
//! single-purpose sections live in [`crate::gateway_sections`], users and
//! route access rules in [`crate::validate_access`].

use std::net::SocketAddr;
use std::path::Path;

use crate::diagnostics::Reporter;
use crate::fields::{self, PatternClaims};
use crate::gateway_sections::{acme, admin, http01, limits, tunnels};
use crate::model::{Admin, GatewayConfig, Listener, Route, Target, TunnelClient};
use crate::raw::{RawGateway, RawListener, RawRoute, RawTunnel, S};
use crate::validate_access::{self, Known};
use crate::validate_tls::{self, Coverage};
use crate::{HostPattern, addr, raw, validate_udp};
use portico_sniff::Protocol;

/// Validates the whole file; every error is reported, `None` if any.
pub(crate) fn validate(
    rep: &mut Reporter<'_>,
    raw: &RawGateway,
    base: &Path,
) -> Option<GatewayConfig> {
    let listeners = listeners(rep, &raw.listener, !raw.udp_listener.is_empty());
    let udp_listeners = validate_udp::udp_listeners(rep, &raw.udp_listener);
    let names_ok = listener_names_unique(rep, raw);
    let acme = raw.acme.as_ref().map(|a| acme(rep, a, base));
    let has_acme = raw.acme.is_some();
    let certificates =
        validate_tls::certificates(rep, &raw.certificate, base, std::time::SystemTime::now());
    let tunnels = raw
        .tunnels
        .as_ref()
        .map(|t| tunnels(rep, t, has_acme, base));
    let tunnel = tunnel_clients(rep, &raw.tunnel, base, raw.tunnels.is_some());
    let names: Vec<&str> = raw
        .tunnel
        .iter()
        .map(|t| t.get_ref().name.get_ref().as_str())
        .collect();
    let users = validate_access::users(rep, &raw.user, base);
    let known_listeners: Vec<String> = raw
        .listener
        .iter()
        .filter_map(|l| l.get_ref().name.as_ref().map(|n| n.get_ref().clone()))
        .chain(
            raw.udp_listener
                .iter()
                .filter_map(|l| l.get_ref().name.as_ref().map(|n| n.get_ref().clone())),
        )
        .collect();
    let known_users: Vec<String> = raw
        .user
        .iter()
        .map(|u| u.get_ref().name.get_ref().clone())
        .collect();
    let known = Known {
        listeners: &known_listeners,
        users: &known_users,
    };
    let coverage = Coverage {
        acme: acme.as_ref().map(|a| match a {
            Some(a) => a.domains.iter().map(String::as_str).collect(),
            None => Vec::new(),
        }),
        certificates: certificates.as_deref().unwrap_or_default(),
        any_certificate: !raw.certificate.is_empty(),
    };
    let context = RouteContext {
        tunnel_names: &names,
        coverage: &coverage,
        certificates_loaded: certificates.is_some() && acme.as_ref().is_none_or(Option::is_some),
        base,
        known: &known,
    };
    let routes = routes(rep, &raw.route, &context);
    let udp_routes_ok = match (&routes, &udp_listeners) {
        (Some(r), Some(u)) => validate_udp::check_udp_routes(rep, &raw.route, r, u),
        _ => true,
    };
    let http01 = raw.http01.as_ref().map(|h| http01(rep, h));
    let admin = raw
        .admin
        .as_ref()
        .map(|a| admin(rep, a, Admin::DEFAULT_BIND, base));
    let limits = limits(rep, raw.limits.as_ref());
    if !(names_ok && udp_routes_ok) {
        return None;
    }
    Some(GatewayConfig {
        listeners: listeners?,
        udp_listeners: udp_listeners?,
        routes: routes?,
        http01: present(http01)?,
        acme: present(acme)?,
        certificates: certificates?,
        tunnels: present(tunnels)?,
        tunnel: tunnel?,
        admin: present(admin)?,
        limits: limits?,
        users: users?,
    })
}

/// `Some(None)` for an absent section, `None` for one that failed.
fn present<T>(section: Option<Option<T>>) -> Option<Option<T>> {
    section.map_or(Some(None), |s| s.map(Some))
}

/// Listener names are unique across `[[listener]]` and `[[udp_listener]]`
/// (routes' `listeners` name either kind). Duplicates within
/// `[[listener]]` are reported by [`listeners`].
fn listener_names_unique(rep: &mut Reporter<'_>, raw: &RawGateway) -> bool {
    let mut ok = true;
    let tcp = raw
        .listener
        .iter()
        .filter_map(|l| l.get_ref().name.as_ref());
    let udp: Vec<&S<String>> = raw
        .udp_listener
        .iter()
        .filter_map(|l| l.get_ref().name.as_ref())
        .collect();
    let earlier: Vec<&S<String>> = tcp.collect();
    for (i, name) in udp.iter().enumerate() {
        let first = earlier
            .iter()
            .chain(udp.iter().take(i))
            .find(|e| e.get_ref() == name.get_ref());
        if let Some(first) = first {
            let line = rep.line_of(first.span().start);
            rep.error(
                name.span(),
                format!(
                    "listener name `{}` is already used on line {line}",
                    name.get_ref()
                ),
            );
            ok = false;
        }
    }
    ok
}

/// Every `[[listener]]`: at least one unless `has_udp` (a file with only
/// `[[udp_listener]]`s), no bind address twice.
fn listeners(
    rep: &mut Reporter<'_>,
    raw: &[S<RawListener>],
    has_udp: bool,
) -> Option<Vec<Listener>> {
    if raw.is_empty() && !has_udp {
        rep.error(
            0..0,
            "no `[[listener]]` or `[[udp_listener]]`; add at least one, e.g. bind = \"[::]:443\"",
        );
        return None;
    }
    let mut seen: Vec<(SocketAddr, usize)> = Vec::new();
    let mut out = Vec::new();
    let mut ok = true;
    for item in raw {
        let Some(l) = listener(rep, item.get_ref()) else {
            ok = false;
            continue;
        };
        let span = item.get_ref().bind.span();
        let start = span.start;
        if let Some((_, first)) = seen.iter().find(|(a, _)| *a == l.bind) {
            let line = rep.line_of(*first);
            rep.error(
                span,
                format!(
                    "bind address {} is already used by the listener on line {line}",
                    l.bind
                ),
            );
            ok = false;
        }
        if let (Some(name), Some(raw_name)) = (&l.name, &item.get_ref().name)
            && let Some(first) = out
                .iter()
                .position(|o: &Listener| o.name.as_ref() == Some(name))
        {
            let line = raw
                .get(first)
                .and_then(|f| f.get_ref().name.as_ref())
                .map(|n| rep.line_of(n.span().start))
                .unwrap_or_default();
            rep.error(
                raw_name.span(),
                format!("listener name `{name}` is already used on line {line}"),
            );
            ok = false;
        }
        seen.push((l.bind, start));
        out.push(l);
    }
    ok.then_some(out)
}

/// One `[[listener]]`.
fn listener(rep: &mut Reporter<'_>, raw: &RawListener) -> Option<Listener> {
    let name = match &raw.name {
        None => Some(None),
        Some(n) => fields::name(rep, n).map(Some),
    };
    let bind = fields::socket_addr(rep, &raw.bind, "listener bind");
    let protocols =
        fields::protocols(rep, raw.protocols.as_ref()).and_then(|set| tcp_only(rep, raw, set));
    let peek_timeout = fields::duration_or(
        rep,
        raw.peek_timeout.as_ref(),
        "peek_timeout",
        Listener::DEFAULT_PEEK_TIMEOUT,
    );
    let connect_timeout = fields::duration_or(
        rep,
        raw.connect_timeout.as_ref(),
        "connect_timeout",
        Listener::DEFAULT_CONNECT_TIMEOUT,
    );
    let idle_timeout = match &raw.idle_timeout {
        None => Some(None),
        Some(v) => fields::duration(rep, v, "idle_timeout", false).map(Some),
    };
    let accept_proxy = fields::nets(rep, raw.accept_proxy.as_ref(), "accept_proxy");
    let other_after = other_after(rep, raw, protocols, peek_timeout);
    Some(Listener {
        name: name?,
        bind: bind?,
        protocols: protocols?,
        peek_timeout: peek_timeout?,
        connect_timeout: connect_timeout?,
        idle_timeout: idle_timeout?,
        accept_proxy: accept_proxy?,
        other_after: other_after?,
    })
}

/// A TCP listener's protocols: none that arrives over UDP (QUIC).
fn tcp_only(
    rep: &mut Reporter<'_>,
    raw: &RawListener,
    set: portico_sniff::ProtocolSet,
) -> Option<portico_sniff::ProtocolSet> {
    let mut ok = true;
    for name in raw.protocols.iter().flat_map(|list| list.get_ref()) {
        if Protocol::from_name(name.get_ref()).is_some_and(Protocol::is_udp) {
            rep.error(
                name.span(),
                format!(
                    "{} is a UDP protocol; use it on a [[udp_listener]]",
                    name.get_ref()
                ),
            );
            ok = false;
        }
    }
    ok.then_some(set)
}

/// A listener's `other_after`: only with "other" in `protocols`, shorter
/// than `peek_timeout`; `"0s"` (no peek) only when "other" is the one
/// protocol.
fn other_after(
    rep: &mut Reporter<'_>,
    raw: &RawListener,
    protocols: Option<portico_sniff::ProtocolSet>,
    peek_timeout: Option<std::time::Duration>,
) -> Option<Option<std::time::Duration>> {
    let Some(v) = &raw.other_after else {
        return Some(None);
    };
    let after = fields::duration(rep, v, "other_after", true)?;
    let key = rep.key_span(v.span());
    let Some(set) = protocols else {
        return Some(Some(after));
    };
    if !set.contains(Protocol::Other) {
        rep.error(
            key,
            "`other_after` needs \"other\" in the listener's `protocols`",
        );
        return None;
    }
    if after.is_zero() && set != portico_sniff::ProtocolSet::only(Protocol::Other) {
        rep.error(
            key,
            "`other_after = \"0s\"` forwards without reading a byte, so nothing can be detected: set protocols = [\"other\"]",
        );
        return None;
    }
    if peek_timeout.is_some_and(|p| after >= p) {
        rep.error(
            v.span(),
            "`other_after` must be shorter than `peek_timeout`, which would close the silent client first",
        );
        return None;
    }
    Some(Some(after))
}

/// What a route is checked against besides itself.
struct RouteContext<'a> {
    /// The `[[tunnel]]` names.
    tunnel_names: &'a [&'a str],
    /// The certificates terminating routes can be served.
    coverage: &'a Coverage<'a>,
    /// Whether `[[certificate]]` and `[acme]` loaded (coverage is checked only then).
    certificates_loaded: bool,
    /// The configuration file's directory.
    base: &'a Path,
    /// The listener and user names routes may refer to.
    known: &'a Known<'a>,
}

/// Every `[[route]]`, with no host pattern claimed twice for a protocol.
fn routes(
    rep: &mut Reporter<'_>,
    raw: &[S<RawRoute>],
    context: &RouteContext<'_>,
) -> Option<Vec<Route>> {
    let mut claims = PatternClaims::default();
    let mut out = Some(Vec::new());
    for item in raw {
        match route(rep, item, context, &mut claims) {
            Some(r) => {
                if let Some(v) = out.as_mut() {
                    v.push(r);
                }
            }
            None => out = None,
        }
    }
    out
}

/// One `[[route]]`.
fn route(
    rep: &mut Reporter<'_>,
    item: &S<RawRoute>,
    context: &RouteContext<'_>,
    claims: &mut PatternClaims,
) -> Option<Route> {
    let tunnel_names = context.tunnel_names;
    let raw = item.get_ref();
    let hosts = fields::host_patterns(rep, &raw.hosts);
    let protocols = fields::protocols(rep, raw.protocols.as_ref());
    let access = validate_access::access(rep, raw, protocols, context.known);
    if let Some(hosts) = &hosts {
        let any_host = hosts.iter().any(|(p, _)| *p == HostPattern::Any);
        validate_access::check_nameless(rep, raw, protocols, any_host);
    }
    if let (Some(hosts), Some(set), Some(access)) = (&hosts, protocols, &access) {
        for (pattern, span) in hosts {
            claims.claim(
                rep,
                (pattern, set, &access.listeners),
                span.clone(),
                "route",
            );
        }
    }
    let target = match (&raw.backend, &raw.tunnel) {
        (Some(_), Some(tunnel)) => {
            rep.error(
                rep.key_span(tunnel.span()),
                "route has both `backend` and `tunnel`; give one",
            );
            None
        }
        (None, None) => {
            rep.error(
                item.span(),
                "route has neither `backend` nor `tunnel`; give one",
            );
            None
        }
        (Some(b), None) => match addr::parse_backend(b.get_ref()) {
            Ok(b) => Some(Target::Backend(b)),
            Err(e) => {
                rep.error(b.span(), format!("invalid backend: {e}"));
                None
            }
        },
        (None, Some(t)) => tunnel_target(rep, t, tunnel_names),
    };
    let proxy_protocol = fields::proxy_version(rep, raw.proxy_protocol.as_ref());
    if let (Some(pp), Some(_)) = (&raw.proxy_protocol, &raw.tunnel) {
        rep.error(
            rep.key_span(pp.span()),
            "`proxy_protocol` applies to backends; for a tunnel, set it on the tunnel client's [[service]]",
        );
    }
    let terminate_tls = raw.terminate_tls.as_ref().is_some_and(|t| *t.get_ref());
    if let Some(t) = raw.terminate_tls.as_ref().filter(|t| *t.get_ref()) {
        validate_tls::terminate_coverage(
            rep,
            t,
            hosts.as_deref().unwrap_or_default(),
            context.coverage,
            context.certificates_loaded,
        );
        if protocols.is_some_and(|p| !p.contains(portico_sniff::Protocol::Tls)) {
            rep.error(
                rep.key_span(t.span()),
                "`terminate_tls = true` on a route whose `protocols` leave out \"tls\"",
            );
        }
    }
    let alpn = route_alpn(rep, raw.alpn.as_ref(), terminate_tls);
    let backend_tls = validate_tls::backend_tls(rep, raw, terminate_tls, context.base);
    Some(Route {
        hosts: hosts?.into_iter().map(|(p, _)| p).collect(),
        protocols: protocols?,
        target: target?,
        proxy_protocol: proxy_protocol?,
        terminate_tls,
        alpn: alpn?,
        access: access?,
        backend_tls: backend_tls?,
    })
}

/// Longest ALPN protocol name (RFC 7301).
const MAX_ALPN_LEN: usize = 255;

/// A route's `alpn`: only with `terminate_tls = true`; a non-empty list of
/// distinct names of 1–255 bytes. Default [`Route::DEFAULT_ALPN`]. Offering
/// `h2` is valid but draws a warning: the backend must speak cleartext
/// HTTP/2.
fn route_alpn(
    rep: &mut Reporter<'_>,
    alpn: Option<&crate::raw::StrList>,
    terminate_tls: bool,
) -> Option<Vec<String>> {
    let Some(list) = alpn else {
        return Some(Route::default_alpn());
    };
    if !terminate_tls {
        rep.error(
            rep.key_span(list.span()),
            "`alpn` applies to routes with `terminate_tls = true`",
        );
        return None;
    }
    if list.get_ref().is_empty() {
        rep.error(list.span(), "empty `alpn`; leave it out for http/1.1");
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for name in list.get_ref() {
        let text = name.get_ref();
        if text.is_empty() || text.len() > MAX_ALPN_LEN {
            rep.error(name.span(), "an ALPN protocol name has 1 to 255 bytes");
            ok = false;
        } else if out.contains(text) {
            rep.error(name.span(), format!("ALPN protocol `{text}` given twice"));
            ok = false;
        } else {
            out.push(text.clone());
        }
    }
    if ok && out.iter().any(|p| p == "h2") {
        rep.warn(
            rep.key_span(list.span()),
            "this route offers `h2`: clients that pick it send HTTP/2 after the handshake, \
             so the backend must speak HTTP/2 in cleartext (h2c, prior knowledge); for an \
             HTTP/1.1 backend leave `alpn` out (default [\"http/1.1\"])",
        );
    }
    ok.then_some(out)
}

/// A route's `tunnel`, which must name a `[[tunnel]]`.
fn tunnel_target(rep: &mut Reporter<'_>, t: &S<String>, names: &[&str]) -> Option<Target> {
    if names.contains(&t.get_ref().as_str()) {
        return Some(Target::Tunnel(t.get_ref().clone()));
    }
    let known = if names.is_empty() {
        "there is no [[tunnel]]".to_owned()
    } else {
        format!("defined: {}", names.join(", "))
    };
    rep.error(
        t.span(),
        format!("no [[tunnel]] named `{}` ({known})", t.get_ref()),
    );
    None
}

/// Every `[[tunnel]]`: unique names, readable private tokens.
fn tunnel_clients(
    rep: &mut Reporter<'_>,
    raw: &[S<RawTunnel>],
    base: &Path,
    has_listen: bool,
) -> Option<Vec<TunnelClient>> {
    if let (false, Some(first)) = (has_listen, raw.first()) {
        rep.error(
            rep.key_span(first.get_ref().name.span()),
            "[[tunnel]] clients need a `[tunnels]` section with the address they connect to",
        );
    }
    let mut out = Some(Vec::new());
    for (i, item) in raw.iter().enumerate() {
        let t = item.get_ref();
        let name = fields::name(rep, &t.name);
        let earlier = raw
            .iter()
            .take(i)
            .find(|o| o.get_ref().name.get_ref() == t.name.get_ref());
        if let Some(first) = earlier {
            let line = rep.line_of(first.get_ref().name.span().start);
            rep.error(
                t.name.span(),
                format!(
                    "tunnel `{}` is already defined on line {line}",
                    t.name.get_ref()
                ),
            );
        }
        let token = fields::token(rep, &t.token_file, base);
        match (name, token, earlier) {
            (Some(name), Some(token), None) => {
                if let Some(v) = out.as_mut() {
                    v.push(TunnelClient { name, token });
                }
            }
            _ => out = None,
        }
    }
    out
}

/// Parses and validates gateway TOML.
pub(crate) fn parse(rep: &mut Reporter<'_>, source: &str, base: &Path) -> Option<GatewayConfig> {
    let parsed: RawGateway = raw::from_toml(rep, source)?;
    validate(rep, &parsed, base)
}
