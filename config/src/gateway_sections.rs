//! Validation of the gateway's single sections: `[http01]`, `[acme]`,
//! `[tunnels]`, `[admin]` (shared with the tunnel client) and `[limits]`.

use std::path::{Path, PathBuf};

use portico_sniff::Hostname;

use crate::addr;
use crate::diagnostics::Reporter;
use crate::fields;
use crate::model::{Acme, Admin, GatewayLimits, Http01, Http01Action, LinkCert, TunnelsListen};
use crate::raw::{RawAcme, RawAdmin, RawHttp01, RawLimits, RawTunnels, S};

/// `[http01]`: exactly one of `backend` and `redirect`.
pub(crate) fn http01(rep: &mut Reporter<'_>, item: &S<RawHttp01>) -> Option<Http01> {
    let raw = item.get_ref();
    let action = match (&raw.backend, &raw.redirect) {
        (Some(_), Some(r)) => {
            rep.error(
                rep.key_span(r.span()),
                "[http01] has both `backend` and `redirect`; give one",
            );
            None
        }
        (None, None) => {
            rep.error(item.span(), "[http01] needs `backend` or `redirect`");
            None
        }
        (Some(b), None) => match addr::parse_backend(b.get_ref()) {
            Ok(b) => Some(Http01Action::Forward(b)),
            Err(e) => {
                rep.error(b.span(), format!("invalid [http01] backend: {e}"));
                None
            }
        },
        (None, Some(r)) => match http_url(r.get_ref()) {
            Ok(base) => Some(Http01Action::Redirect(
                base.trim_end_matches('/').to_owned(),
            )),
            Err(e) => {
                rep.error(r.span(), format!("invalid [http01] redirect: {e}"));
                None
            }
        },
    };
    let hosts = match &raw.hosts {
        None => Some(Vec::new()),
        Some(list) => {
            fields::host_patterns(rep, list).map(|v| v.into_iter().map(|(p, _)| p).collect())
        }
    };
    Some(Http01 {
        action: action?,
        hosts: hosts?,
    })
}

/// Checks an `http://` or `https://` URL with a valid host; returns it as given.
fn http_url(text: &str) -> Result<&str, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("`{text}` is not an http:// or https:// URL"))?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{text}` contains white space"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty() {
        return Err(format!("`{text}` has no host"));
    }
    addr::parse_host_port(host_port, false).map_err(|e| format!("`{text}`: {e}"))?;
    Ok(text)
}

/// `[acme]`.
pub(crate) fn acme(rep: &mut Reporter<'_>, item: &S<RawAcme>, base: &Path) -> Option<Acme> {
    let raw = item.get_ref();
    let directory = match http_url(raw.directory.get_ref()) {
        Ok(url) => Some(url.to_owned()),
        Err(e) => {
            rep.error(raw.directory.span(), format!("invalid ACME directory: {e}"));
            None
        }
    };
    let mut contact = Some(Vec::new());
    if let Some(c) = &raw.contact {
        let list = match c.get_ref() {
            crate::raw::OneOrMany::One(s) => vec![s.clone()],
            crate::raw::OneOrMany::Many(v) => v.clone(),
        };
        for uri in list {
            if uri.strip_prefix("mailto:").is_some_and(|a| a.contains('@')) {
                if let Some(v) = contact.as_mut() {
                    v.push(uri);
                }
            } else {
                rep.error(
                    c.span(),
                    format!("ACME contact `{uri}` is not a mailto: address"),
                );
                contact = None;
            }
        }
    }
    let mut domains = Some(Vec::new());
    if raw.domains.get_ref().is_empty() {
        rep.error(
            raw.domains.span(),
            "empty ACME `domains`; name at least one",
        );
        domains = None;
    }
    for d in raw.domains.get_ref() {
        match Hostname::parse(d.get_ref().as_bytes()) {
            Ok(h) => domains
                .iter_mut()
                .for_each(|v| v.push(h.as_str().to_owned())),
            Err(e) => {
                rep.error(
                    d.span(),
                    format!(
                        "ACME domain `{}` is not a valid hostname ({e})",
                        d.get_ref()
                    ),
                );
                domains = None;
            }
        }
    }
    let storage = fields::path(rep, &raw.storage, base, "ACME storage");
    let directory_ca = match &raw.directory_ca {
        None => Some(None),
        Some(v) => fields::existing_file(rep, v, base, "directory_ca").map(Some),
    };
    let renew_before = match &raw.renew_before {
        None => Some(None),
        Some(v) => fields::duration(rep, v, "renew_before", false).map(Some),
    };
    let tls_handshake_timeout = fields::duration_or(
        rep,
        raw.tls_handshake_timeout.as_ref(),
        "tls_handshake_timeout",
        Acme::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    );
    Some(Acme {
        directory: directory?,
        contact: contact?,
        domains: domains?,
        storage: storage?,
        directory_ca: directory_ca?,
        renew_before: renew_before?,
        tls_handshake_timeout: tls_handshake_timeout?,
    })
}

/// `[tunnels]`: a bind address and either PEM files (relative to `base`)
/// or `acme = true`.
pub(crate) fn tunnels(
    rep: &mut Reporter<'_>,
    item: &S<RawTunnels>,
    has_acme: bool,
    base: &Path,
) -> Option<TunnelsListen> {
    let raw = item.get_ref();
    let bind = fields::socket_addr(rep, &raw.bind, "[tunnels] bind");
    let use_acme = raw.acme.as_ref().filter(|a| *a.get_ref());
    let cert = match (use_acme, &raw.cert, &raw.key) {
        (Some(a), None, None) => {
            if !has_acme {
                rep.error(
                    rep.key_span(a.span()),
                    "[tunnels] `acme = true` needs an `[acme]` section",
                );
            }
            has_acme.then_some(LinkCert::Acme)
        }
        (Some(a), _, _) => {
            rep.error(
                rep.key_span(a.span()),
                "[tunnels] has both `acme = true` and `cert`/`key`; give one",
            );
            None
        }
        (None, Some(cert), Some(key))
            if !cert.get_ref().is_empty() && !key.get_ref().is_empty() =>
        {
            Some(LinkCert::Files {
                cert: base.join(cert.get_ref()),
                key: base.join(key.get_ref()),
            })
        }
        (None, None, None) => {
            let storage = match &raw.storage {
                Some(v) => fields::path(rep, v, base, "[tunnels] storage"),
                None => Some(PathBuf::from(TunnelsListen::DEFAULT_STORAGE)),
            };
            storage.map(|storage| LinkCert::Generated { storage })
        }
        (None, _, _) => {
            rep.error(
                item.span(),
                "[tunnels] needs both `cert` and `key` (PEM files), or `acme = true`, \
                 or neither for a generated self-signed certificate",
            );
            None
        }
    };
    if let (Some(storage), Some(LinkCert::Files { .. } | LinkCert::Acme)) = (&raw.storage, &cert) {
        rep.error(
            rep.key_span(storage.span()),
            "[tunnels] `storage` holds the generated certificate; it applies without `cert`, `key` and `acme`",
        );
    }
    let link = fields::link_tuning(
        rep,
        (
            raw.max_udp_payload.as_ref(),
            raw.udp_receive_buffer.as_ref(),
            raw.udp_send_buffer.as_ref(),
        ),
        "[tunnels] ",
    );
    Some(TunnelsListen {
        bind: bind?,
        cert: cert?,
        link: link?,
    })
}

/// `[admin]` of either program, with `default_bind` when `bind` is
/// absent; the `token_file` is read like a tunnel token. An endpoint bound
/// beyond loopback without a token draws a warning.
pub(crate) fn admin(
    rep: &mut Reporter<'_>,
    item: &S<RawAdmin>,
    default_bind: std::net::SocketAddr,
    base: &std::path::Path,
) -> Option<Admin> {
    let raw = item.get_ref();
    let bind = match &raw.bind {
        None => Some(default_bind),
        Some(b) => fields::socket_addr(rep, b, "[admin] bind"),
    };
    let token = match &raw.token_file {
        None => Some(None),
        Some(t) => fields::token(rep, t, base).map(Some),
    };
    if let (Some(addr), Some(None)) = (bind, &token)
        && !addr.ip().is_loopback()
    {
        let span = raw
            .bind
            .as_ref()
            .map_or_else(|| rep.key_span(item.span()), |b| rep.key_span(b.span()));
        rep.warn(
            span,
            format!(
                "the admin endpoint on {addr} is reachable beyond this host and has no \
                 token_file: anyone who reaches it sees the routes, tunnels and clients; \
                 add `token_file` or bind it to 127.0.0.1"
            ),
        );
    }
    Some(Admin {
        bind: bind?,
        token: token?,
    })
}

/// `[limits]`, each value within its cap; defaults when absent.
pub(crate) fn limits(rep: &mut Reporter<'_>, item: Option<&S<RawLimits>>) -> Option<GatewayLimits> {
    let Some(item) = item else {
        return Some(GatewayLimits::default());
    };
    let raw = item.get_ref();
    type L = GatewayLimits;
    let heads = L::HEAD_MAX_MIN..=L::HEAD_MAX_CAP;
    let max_connections = fields::bounded(
        rep,
        raw.max_connections.as_ref(),
        "max_connections",
        L::DEFAULT_MAX_CONNECTIONS,
        1..=L::MAX_CONNECTIONS_CAP,
    );
    let per_ip_cap = max_connections.unwrap_or(L::MAX_CONNECTIONS_CAP);
    let max_connections_per_ip = fields::bounded(
        rep,
        raw.max_connections_per_ip.as_ref(),
        "max_connections_per_ip",
        L::DEFAULT_MAX_CONNECTIONS_PER_IP.min(per_ip_cap),
        1..=per_ip_cap,
    );
    let shutdown_grace = match &raw.shutdown_grace {
        None => Some(L::DEFAULT_SHUTDOWN_GRACE),
        Some(v) => fields::duration(rep, v, "shutdown_grace", true).filter(|d| {
            let ok = *d <= L::SHUTDOWN_GRACE_CAP;
            if !ok {
                rep.error(v.span(), "shutdown_grace is longer than the cap of 1h");
            }
            ok
        }),
    };
    let tls_hello_max = fields::bounded(
        rep,
        raw.tls_hello_max.as_ref(),
        "tls_hello_max",
        L::DEFAULT_TLS_HELLO_MAX,
        heads.clone(),
    );
    let http_head_max = fields::bounded(
        rep,
        raw.http_head_max.as_ref(),
        "http_head_max",
        L::DEFAULT_HTTP_HEAD_MAX,
        heads.clone(),
    );
    let xmpp_head_max = fields::bounded(
        rep,
        raw.xmpp_head_max.as_ref(),
        "xmpp_head_max",
        L::DEFAULT_XMPP_HEAD_MAX,
        heads,
    );
    let refusal_log_rate = fields::bounded(
        rep,
        raw.refusal_log_rate.as_ref(),
        "refusal_log_rate",
        L::DEFAULT_REFUSAL_LOG_RATE as usize,
        0..=L::REFUSAL_LOG_RATE_CAP as usize,
    )
    .and_then(|n| u32::try_from(n).ok());
    let login_failures = fields::bounded(
        rep,
        raw.login_failures.as_ref(),
        "login_failures",
        L::DEFAULT_LOGIN_FAILURES as usize,
        1..=L::LOGIN_FAILURES_CAP as usize,
    )
    .and_then(|n| u32::try_from(n).ok());
    let login_window = match &raw.login_window {
        None => Some(L::DEFAULT_LOGIN_WINDOW),
        Some(v) => fields::duration(rep, v, "login_window", false).filter(|d| {
            let ok = *d <= L::LOGIN_WINDOW_CAP;
            if !ok {
                rep.error(v.span(), "login_window is longer than the cap of 1d");
            }
            ok
        }),
    };
    let login_sources_max = fields::bounded(
        rep,
        raw.login_sources_max.as_ref(),
        "login_sources_max",
        L::DEFAULT_LOGIN_SOURCES_MAX,
        1..=L::LOGIN_SOURCES_CAP,
    );
    Some(GatewayLimits {
        login_failures: login_failures?,
        login_window: login_window?,
        login_sources_max: login_sources_max?,
        max_connections: max_connections?,
        max_connections_per_ip: max_connections_per_ip?,
        shutdown_grace: shutdown_grace?,
        tls_hello_max: tls_hello_max?,
        http_head_max: http_head_max?,
        xmpp_head_max: xmpp_head_max?,
        refusal_log_rate: refusal_log_rate?,
    })
}
