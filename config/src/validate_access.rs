//! Validation of who may use what: the `[[user]]` list (names and
//! owner-only password files) and each route's access rules — `listeners`,
//! `ports`, `users`, `allow`, `deny` and `exit` — checked against the
//! listeners, users and protocols the file defines.

use std::path::Path;

use portico_sniff::{Protocol, ProtocolSet};

use crate::diagnostics::Reporter;
use crate::fields;
use crate::model::{Access, User};
use crate::raw::{RawRoute, RawUser, S};

/// Shortest password accepted, in bytes.
pub(crate) const MIN_PASSWORD_LEN: usize = 8;

/// What the rest of the file defines that routes refer to.
pub(crate) struct Known<'a> {
    /// Names of the `[[listener]]`s that have one.
    pub(crate) listeners: &'a [String],
    /// Names of the `[[user]]`s.
    pub(crate) users: &'a [String],
}

/// Every `[[user]]`: valid unique names, readable owner-only password files.
pub(crate) fn users(rep: &mut Reporter<'_>, raw: &[S<RawUser>], base: &Path) -> Option<Vec<User>> {
    let mut out = Some(Vec::new());
    for (i, item) in raw.iter().enumerate() {
        let u = item.get_ref();
        let name = fields::name(rep, &u.name);
        let earlier = raw
            .iter()
            .take(i)
            .find(|o| o.get_ref().name.get_ref() == u.name.get_ref());
        if let Some(first) = earlier {
            let line = rep.line_of(first.get_ref().name.span().start);
            rep.error(
                u.name.span(),
                format!(
                    "user `{}` is already defined on line {line}",
                    u.name.get_ref()
                ),
            );
        }
        let password = fields::path(rep, &u.password_file, base, "password_file").and_then(|p| {
            match crate::token::read_secret(&p, "password file", MIN_PASSWORD_LEN) {
                Ok(secret) => Some(secret),
                Err(message) => {
                    rep.error(u.password_file.span(), message);
                    None
                }
            }
        });
        match (name, password, earlier) {
            (Some(name), Some(password), None) => {
                if let Some(v) = out.as_mut() {
                    v.push(User { name, password });
                }
            }
            _ => out = None,
        }
    }
    out
}

/// The protocols that ask for credentials.
fn proxy_protocols() -> ProtocolSet {
    ProtocolSet::only(Protocol::Connect).with(Protocol::Socks5)
}

/// One route's access rules; `protocols` is the route's validated protocol
/// set, when it is valid.
pub(crate) fn access(
    rep: &mut Reporter<'_>,
    raw: &RawRoute,
    protocols: Option<ProtocolSet>,
    known: &Known<'_>,
) -> Option<Access> {
    let mut ok = true;
    let mut listeners = Vec::new();
    for name in raw.listeners.iter().flat_map(|l| l.get_ref()) {
        if known.listeners.contains(name.get_ref()) {
            listeners.push(name.get_ref().clone());
        } else {
            let defined = if known.listeners.is_empty() {
                "no [[listener]] has a `name`".to_owned()
            } else {
                format!("named: {}", known.listeners.join(", "))
            };
            rep.error(
                name.span(),
                format!("no [[listener]] named `{}` ({defined})", name.get_ref()),
            );
            ok = false;
        }
    }
    if raw
        .listeners
        .as_ref()
        .is_some_and(|l| l.get_ref().is_empty())
    {
        if let Some(l) = &raw.listeners {
            rep.error(
                l.span(),
                "empty `listeners`; leave it out for every listener",
            );
        }
        ok = false;
    }
    let mut users = Vec::new();
    for name in raw.users.iter().flat_map(|l| l.get_ref()) {
        if known.users.contains(name.get_ref()) {
            users.push(name.get_ref().clone());
        } else {
            rep.error(
                name.span(),
                format!("no [[user]] named `{}`", name.get_ref()),
            );
            ok = false;
        }
    }
    if let (Some(list), Some(set)) = (&raw.users, protocols)
        && !set.intersects(proxy_protocols())
    {
        rep.error(
            rep.key_span(list.span()),
            "`users` applies to routes whose `protocols` include \"connect\" or \"socks5\"",
        );
        ok = false;
    }
    let ports = fields::ports(rep, raw.ports.as_ref());
    let allow = fields::nets(rep, raw.allow.as_ref(), "allow");
    let deny = fields::nets(rep, raw.deny.as_ref(), "deny");
    let exit = raw.exit.as_ref().is_some_and(|e| *e.get_ref());
    if let Some(e) = raw.exit.as_ref().filter(|e| *e.get_ref()) {
        let span = rep.key_span(e.span());
        if raw.tunnel.is_none() {
            rep.error(
                span.clone(),
                "`exit = true` needs `tunnel`: the tunnel client dials the target",
            );
            ok = false;
        }
        if protocols.is_some_and(|p| p.iter().any(|x| !proxy_protocols().contains(x))) {
            rep.error(
                span.clone(),
                "`exit = true` routes carry only \"connect\" and \"socks5\"; set `protocols` to those",
            );
            ok = false;
        }
        if raw.users.is_none() {
            rep.error(
                span,
                "`exit = true` needs `users`: their credentials pick the tunnel",
            );
            ok = false;
        }
    }
    Some(Access {
        listeners,
        ports: ports?,
        users,
        allow: allow?,
        deny: deny?,
        exit,
    })
    .filter(|_| ok)
}

/// Nameless protocols (`ssh`, `other`) are served only by `"*"` routes: a
/// route that names them with other host patterns is an error.
pub(crate) fn check_nameless(
    rep: &mut Reporter<'_>,
    raw: &RawRoute,
    protocols: Option<ProtocolSet>,
    any_host: bool,
) {
    let nameless = ProtocolSet::only(Protocol::Ssh).with(Protocol::Other);
    if let (Some(set), Some(list)) = (protocols, &raw.protocols)
        && set.intersects(nameless)
        && !any_host
    {
        rep.error(
            list.span(),
            "\"ssh\" and \"other\" carry no name: only a route with hosts = [\"*\"] serves them",
        );
    }
}
