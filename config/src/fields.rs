//! Checks of single values shared by both programs' validation: addresses,
//! durations, protocol lists, host patterns, names, paths and tokens. Each
//! reports its own error at the value's span and returns `None` then.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portico_sniff::{Protocol, ProtocolSet};

use crate::diagnostics::Reporter;
use crate::duration::parse_duration;
use crate::model::ProxyVersion;
use crate::raw::{S, StrList};
use crate::{HostPattern, Secret};

/// Longest tunnel name.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// A socket address such as `"[::]:443"` or `"0.0.0.0:443"`.
pub(crate) fn socket_addr(rep: &mut Reporter<'_>, v: &S<String>, what: &str) -> Option<SocketAddr> {
    match v.get_ref().parse::<SocketAddr>() {
        Ok(a) if a.port() != 0 => Some(a),
        Ok(_) => {
            rep.error(v.span(), format!("{what}: port 0 is not allowed"));
            None
        }
        Err(_) => {
            rep.error(
                v.span(),
                format!(
                    "{what} `{}` is not an IP address and port, e.g. \"[::]:443\" or \"0.0.0.0:443\"",
                    v.get_ref()
                ),
            );
            None
        }
    }
}

/// A duration such as `"5s"`; zero is refused unless `allow_zero`.
pub(crate) fn duration(
    rep: &mut Reporter<'_>,
    v: &S<String>,
    what: &str,
    allow_zero: bool,
) -> Option<Duration> {
    match parse_duration(v.get_ref()) {
        Ok(d) if d.is_zero() && !allow_zero => {
            rep.error(v.span(), format!("{what} must be longer than zero"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            rep.error(v.span(), format!("{what} `{}`: {e}", v.get_ref()));
            None
        }
    }
}

/// An optional duration with a default.
pub(crate) fn duration_or(
    rep: &mut Reporter<'_>,
    v: Option<&S<String>>,
    what: &str,
    default: Duration,
) -> Option<Duration> {
    v.map_or(Some(default), |v| duration(rep, v, what, false))
}

/// A protocol list; absent means the protocols that carry a hostname
/// ([`ProtocolSet::NAMED`]). Empty or unknown names are errors.
pub(crate) fn protocols(rep: &mut Reporter<'_>, v: Option<&StrList>) -> Option<ProtocolSet> {
    let Some(list) = v else {
        return Some(ProtocolSet::NAMED);
    };
    if list.get_ref().is_empty() {
        rep.error(
            list.span(),
            "empty `protocols`; leave it out for the default (tls, http, xmpp, dial)",
        );
        return None;
    }
    let mut set = ProtocolSet::EMPTY;
    let mut ok = true;
    for name in list.get_ref() {
        match Protocol::from_name(name.get_ref()) {
            Some(p) => set = set.with(p),
            None => {
                let valid: Vec<&str> = Protocol::ALL.iter().map(|p| p.as_str()).collect();
                rep.error(
                    name.span(),
                    format!(
                        "unknown protocol `{}`; valid: {}",
                        name.get_ref(),
                        valid.join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(set)
}

/// A non-empty list of host patterns, each with its span.
pub(crate) fn host_patterns(
    rep: &mut Reporter<'_>,
    list: &StrList,
) -> Option<Vec<(HostPattern, Range<usize>)>> {
    if list.get_ref().is_empty() {
        rep.error(
            list.span(),
            "empty `hosts`; name at least one host, or \"*\"",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for item in list.get_ref() {
        match HostPattern::parse(item.get_ref()) {
            Ok(p) => out.push((p, item.span())),
            Err(e) => {
                rep.error(
                    item.span(),
                    format!("invalid host pattern `{}`: {e}", item.get_ref()),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Remembers which host patterns are taken, for which protocols, to refuse
/// the same pattern twice where both could match one connection.
#[derive(Default)]
pub(crate) struct PatternClaims {
    taken: Vec<(HostPattern, ProtocolSet, Vec<String>, usize)>,
}

impl PatternClaims {
    /// Claims `pattern` for `protocols` within `scope` (listener names or
    /// ports; empty: everywhere); reports a clash with an earlier claim
    /// whose scope overlaps.
    pub(crate) fn claim(
        &mut self,
        rep: &mut Reporter<'_>,
        (pattern, protocols, scope): (&HostPattern, ProtocolSet, &[String]),
        span: Range<usize>,
        what: &str,
    ) {
        let overlaps = |other: &[String]| {
            scope.is_empty() || other.is_empty() || other.iter().any(|s| scope.contains(s))
        };
        let earlier = self.taken.iter().find(|(p, set, other, _)| {
            p == pattern && set.intersects(protocols) && overlaps(other)
        });
        if let Some((_, _, _, first)) = earlier {
            let line = rep.line_of(*first);
            rep.error(
                span,
                format!("host `{pattern}` is already claimed by the {what} on line {line}"),
            );
            return;
        }
        self.taken
            .push((pattern.clone(), protocols, scope.to_vec(), span.start));
    }
}

/// `"v1"` or `"v2"`; absent means none.
pub(crate) fn proxy_version(
    rep: &mut Reporter<'_>,
    v: Option<&S<String>>,
) -> Option<Option<ProxyVersion>> {
    match v.map(|v| (v.get_ref().as_str(), v.span())) {
        None => Some(None),
        Some(("v1", _)) => Some(Some(ProxyVersion::V1)),
        Some(("v2", _)) => Some(Some(ProxyVersion::V2)),
        Some((other, span)) => {
            rep.error(span, format!("proxy_protocol `{other}`; valid: v1, v2"));
            None
        }
    }
}

/// A tunnel name: 1 to [`MAX_NAME_LEN`] letters, digits, `-` or `_`.
pub(crate) fn name(rep: &mut Reporter<'_>, v: &S<String>) -> Option<String> {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        rep.error(
            v.span(),
            format!("invalid name `{s}`: use 1 to {MAX_NAME_LEN} letters, digits, `-` or `_`"),
        );
        return None;
    }
    Some(s.clone())
}

/// A path from the file; relative paths are taken from `base`, the
/// directory of the configuration file. Empty is an error.
pub(crate) fn path(
    rep: &mut Reporter<'_>,
    v: &S<String>,
    base: &Path,
    what: &str,
) -> Option<PathBuf> {
    if v.get_ref().is_empty() {
        rep.error(v.span(), format!("empty {what} path"));
        return None;
    }
    Some(base.join(v.get_ref()))
}

/// A path that must name an existing file.
pub(crate) fn existing_file(
    rep: &mut Reporter<'_>,
    v: &S<String>,
    base: &Path,
    what: &str,
) -> Option<PathBuf> {
    let p = path(rep, v, base, what)?;
    if !p.is_file() {
        rep.error(
            v.span(),
            format!("{what} {} does not exist or is not a file", p.display()),
        );
        return None;
    }
    Some(p)
}

/// The token in `token_file`, with every check of [`crate::token`].
pub(crate) fn token(rep: &mut Reporter<'_>, v: &S<String>, base: &Path) -> Option<Secret> {
    let p = path(rep, v, base, "token_file")?;
    match crate::token::read_token(&p) {
        Ok(secret) => Some(secret),
        Err(message) => {
            rep.error(v.span(), message);
            None
        }
    }
}

/// A list of TCP/UDP ports (1–65535), each at most once; absent: empty.
pub(crate) fn ports(rep: &mut Reporter<'_>, v: Option<&crate::raw::IntList>) -> Option<Vec<u16>> {
    let Some(list) = v else {
        return Some(Vec::new());
    };
    if list.get_ref().is_empty() {
        rep.error(list.span(), "empty `ports`; leave it out for the default");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for item in list.get_ref() {
        match u16::try_from(*item.get_ref()) {
            Ok(p) if p != 0 && !out.contains(&p) => out.push(p),
            Ok(p) if p != 0 => {
                rep.error(item.span(), format!("port {p} given twice"));
                ok = false;
            }
            _ => {
                rep.error(item.span(), "a port is a number from 1 to 65535");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// A CIDR network, or a single address as a host network; `None` if
/// neither.
pub(crate) fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| {
            text.parse::<std::net::IpAddr>()
                .ok()
                .map(ipnet::IpNet::from)
        })
        .map(|n| n.trunc())
}

/// A list of networks (`allow`, `deny`, `accept_proxy`); absent: empty.
pub(crate) fn nets(
    rep: &mut Reporter<'_>,
    v: Option<&StrList>,
    what: &str,
) -> Option<Vec<ipnet::IpNet>> {
    let mut out = Some(Vec::new());
    for net in v.iter().flat_map(|l| l.get_ref()) {
        match parse_net(net.get_ref()) {
            Some(n) => {
                if let Some(v) = out.as_mut() {
                    v.push(n);
                }
            }
            None => {
                rep.error(
                    net.span(),
                    format!(
                        "{what} `{}` is not an address or network, e.g. \"10.0.0.0/8\"",
                        net.get_ref()
                    ),
                );
                out = None;
            }
        }
    }
    out
}

/// An integer setting in `min..=max`, or `default` when absent.
pub(crate) fn bounded(
    rep: &mut Reporter<'_>,
    v: Option<&S<i64>>,
    what: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Option<usize> {
    let Some(v) = v else {
        return Some(default);
    };
    match usize::try_from(*v.get_ref()) {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            rep.error(
                v.span(),
                format!(
                    "{what} = {} is out of range {}..={}",
                    v.get_ref(),
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }
}

/// An optional integer key as read.
type RawInt<'a> = Option<&'a S<i64>>;

/// The link's datagram size and socket buffers, each within its bounds;
/// defaults where absent. `section` prefixes the messages (`[tunnels] ` or
/// empty).
pub(crate) fn link_tuning(
    rep: &mut Reporter<'_>,
    (payload, receive, send): (RawInt<'_>, RawInt<'_>, RawInt<'_>),
    section: &str,
) -> Option<crate::model::LinkTuning> {
    type T = crate::model::LinkTuning;
    let payload = bounded(
        rep,
        payload,
        &format!("{section}max_udp_payload"),
        usize::from(T::DEFAULT_MAX_UDP_PAYLOAD),
        usize::from(T::UDP_PAYLOAD_MIN)..=usize::from(T::DEFAULT_MAX_UDP_PAYLOAD),
    )
    .and_then(|n| u16::try_from(n).ok());
    let buffers = T::UDP_BUFFER_MIN..=T::UDP_BUFFER_MAX;
    let receive = bounded(
        rep,
        receive,
        &format!("{section}udp_receive_buffer"),
        T::DEFAULT_UDP_BUFFER,
        buffers.clone(),
    );
    let send = bounded(
        rep,
        send,
        &format!("{section}udp_send_buffer"),
        T::DEFAULT_UDP_BUFFER,
        buffers,
    );
    Some(T {
        max_udp_payload: payload?,
        udp_receive_buffer: receive?,
        udp_send_buffer: send?,
    })
}
