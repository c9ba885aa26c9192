//! Validation of the gateway's TLS settings: every `[[certificate]]`
//! (read and checked through [`crate::certificate`]), whether a
//! terminating route's names are covered by some certificate, and a
//! route's `backend_tls`, `backend_ca` and `backend_name`.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use portico_sniff::Hostname;

use crate::HostPattern;
use crate::certificate::{Which, read_chain, read_pair, readable_by_others};
use crate::diagnostics::Reporter;
use crate::fields;
use crate::model::{BackendCa, BackendTls, Certificate};
use crate::raw::{RawCertificate, RawRoute, S};

/// Every `[[certificate]]`, each pair read and checked at `now`.
pub(crate) fn certificates(
    rep: &mut Reporter<'_>,
    raw: &[S<RawCertificate>],
    base: &Path,
    now: SystemTime,
) -> Option<Vec<Certificate>> {
    let mut out = Some(Vec::new());
    for item in raw {
        let c = item.get_ref();
        let cert = fields::path(rep, &c.cert, base, "certificate `cert`");
        let key = fields::path(rep, &c.key, base, "certificate `key`");
        let (Some(cert), Some(key)) = (cert, key) else {
            out = None;
            continue;
        };
        match read_pair(&cert, &key, now) {
            Ok((certificate, warning)) => {
                if let Some(warning) = warning {
                    rep.warn(c.cert.span(), warning);
                }
                if readable_by_others(&key) {
                    rep.warn(
                        c.key.span(),
                        format!(
                            "key file {} is readable by others; chmod 600 it",
                            key.display()
                        ),
                    );
                }
                if let Some(v) = out.as_mut() {
                    v.push(certificate);
                }
            }
            Err(e) => {
                let span = match e.which {
                    Which::Cert => c.cert.span(),
                    Which::Key => c.key.span(),
                };
                rep.error(span, e.message);
                out = None;
            }
        }
    }
    out
}

/// What certificates the gateway can serve on terminating routes.
pub(crate) struct Coverage<'a> {
    /// The `[acme] domains`, when `[acme]` is configured.
    pub(crate) acme: Option<Vec<&'a str>>,
    /// The `[[certificate]]` pairs that loaded.
    pub(crate) certificates: &'a [Certificate],
    /// Whether any `[[certificate]]` is configured (loaded or not).
    pub(crate) any_certificate: bool,
}

impl Coverage<'_> {
    /// Whether some certificate source exists at all.
    fn any(&self) -> bool {
        self.acme.is_some() || self.any_certificate
    }

    /// Whether a handshake for names `pattern` matches can get a certificate.
    fn covers(&self, pattern: &HostPattern) -> bool {
        let acme = self.acme.as_deref().unwrap_or_default();
        match pattern {
            HostPattern::Exact(name) => {
                acme.contains(&name.as_str())
                    || self
                        .certificates
                        .iter()
                        .any(|c| c.names.iter().any(|n| n.matches(name.as_str())))
            }
            HostPattern::Wildcard(suffix) => self.certificates.iter().any(|c| {
                c.names.iter().any(
                    |n| matches!(n, crate::model::CertName::Wildcard(s) if s == suffix.as_str()),
                )
            }),
            HostPattern::Any => true,
        }
    }
}

/// A terminating route's certificate checks: without any certificate
/// source the route is an error; a name no certificate covers draws a
/// warning (its handshakes fail with `unrecognized_name`). Skipped when
/// the certificates did not load (their errors come first).
pub(crate) fn terminate_coverage(
    rep: &mut Reporter<'_>,
    terminate: &S<bool>,
    hosts: &[(HostPattern, std::ops::Range<usize>)],
    coverage: &Coverage<'_>,
    certificates_loaded: bool,
) {
    if !coverage.any() {
        rep.error(
            rep.key_span(terminate.span()),
            "`terminate_tls = true` needs a certificate: an `[acme]` section or a `[[certificate]]`",
        );
        return;
    }
    if !certificates_loaded {
        return;
    }
    for (pattern, span) in hosts {
        if !coverage.covers(pattern) {
            rep.warn(
                span.clone(),
                format!(
                    "no [[certificate]] and no [acme] domain covers `{pattern}`: TLS handshakes \
                     for it on this terminating route fail (alert unrecognized_name)"
                ),
            );
        }
    }
}

/// A route's `backend_tls`, `backend_ca` and `backend_name`: only on a
/// terminating route, the last two only with `backend_tls = true`.
pub(crate) fn backend_tls(
    rep: &mut Reporter<'_>,
    raw: &RawRoute,
    terminate_tls: bool,
    base: &Path,
) -> Option<Option<BackendTls>> {
    let enabled = raw.backend_tls.as_ref().filter(|b| *b.get_ref());
    let Some(enabled) = enabled else {
        let mut ok = true;
        for (key, span) in [
            ("backend_ca", raw.backend_ca.as_ref().map(S::span)),
            ("backend_name", raw.backend_name.as_ref().map(S::span)),
        ] {
            if let Some(span) = span {
                rep.error(
                    rep.key_span(span),
                    format!("`{key}` applies to routes with `backend_tls = true`"),
                );
                ok = false;
            }
        }
        return ok.then_some(None);
    };
    let mut ok = true;
    if !terminate_tls {
        rep.error(
            rep.key_span(enabled.span()),
            "`backend_tls = true` applies to routes with `terminate_tls = true` \
             (other routes forward the client's own TLS unchanged)",
        );
        ok = false;
    }
    if raw.tunnel.is_some() {
        rep.error(
            rep.key_span(enabled.span()),
            "`backend_tls = true` applies to backend routes",
        );
        ok = false;
    }
    let name = match &raw.backend_name {
        None => Some(None),
        Some(v) => match Hostname::parse_str(v.get_ref()) {
            Ok(h) => Some(Some(h.as_str().to_owned())),
            Err(e) => {
                rep.error(
                    v.span(),
                    format!(
                        "backend_name `{}` is not a valid hostname ({e})",
                        v.get_ref()
                    ),
                );
                None
            }
        },
    };
    let ca = match &raw.backend_ca {
        None => Some(None),
        Some(v) => fields::path(rep, v, base, "backend_ca").and_then(|path| {
            match read_chain(&path, "backend_ca") {
                Ok(certs) => Some(Some(BackendCa {
                    path,
                    certs: Arc::from(certs),
                })),
                Err(message) => {
                    rep.error(v.span(), message);
                    None
                }
            }
        }),
    };
    let (name, ca) = (name?, ca?);
    ok.then_some(Some(BackendTls { name, ca }))
}
