//! Validation of a parsed tunnel-client file into [`TunnelConfig`]: the
//! link settings, the optional `[tun]` device and `[admin]` endpoint, the `[[service]]` list and
//! the `[[exit]]` list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use portico_sniff::ProtocolSet;

use crate::HostPattern;
use crate::diagnostics::Reporter;
use crate::fields::{self, PatternClaims};
use crate::model::{Admin, Exit, ExitTarget, RouteMode, Service, SourceMode, Tun, TunnelConfig};
use crate::raw::{RawExit, RawService, RawTun, RawTunnelConfig, S};
use crate::{addr, gateway_sections, raw};

/// Routing tables the kernel reserves: default, main, local.
const RESERVED_TABLES: [i64; 3] = [253, 254, 255];

/// Parses and validates tunnel-client TOML.
pub(crate) fn parse(rep: &mut Reporter<'_>, source: &str, base: &Path) -> Option<TunnelConfig> {
    let parsed: RawTunnelConfig = raw::from_toml(rep, source)?;
    validate(rep, &parsed, base)
}

/// Validates the whole file; every error is reported, `None` if any.
fn validate(rep: &mut Reporter<'_>, raw: &RawTunnelConfig, base: &Path) -> Option<TunnelConfig> {
    let gateway = match addr::parse_host_port(raw.gateway.get_ref(), true) {
        Ok((host, Some(port))) => Some(addr::format_host_port(&host, port)),
        Ok((_, None)) => None,
        Err(e) => {
            rep.error(raw.gateway.span(), format!("invalid gateway: {e}"));
            None
        }
    };
    let name = fields::name(rep, &raw.name);
    let token = fields::token(rep, &raw.token_file, base);
    let ca = match &raw.ca {
        None => Some(None),
        Some(v) => fields::existing_file(rep, v, base, "ca").map(Some),
    };
    let gateway_fingerprint = match &raw.gateway_fingerprint {
        None => Some(None),
        Some(v) => match parse_fingerprint(v.get_ref()) {
            Some(bytes) => Some(Some(bytes)),
            None => {
                rep.error(
                    v.span(),
                    "gateway_fingerprint is `sha256:` and 64 hex digits (colons between \
                     byte pairs allowed), as `openssl x509 -noout -fingerprint -sha256` prints it",
                );
                None
            }
        },
    };
    if let (Some(_), Some(fp)) = (&raw.ca, &raw.gateway_fingerprint) {
        rep.error(
            rep.key_span(fp.span()),
            "give `ca` or `gateway_fingerprint`, not both",
        );
    }
    let link = fields::link_tuning(
        rep,
        (
            raw.max_udp_payload.as_ref(),
            raw.udp_receive_buffer.as_ref(),
            raw.udp_send_buffer.as_ref(),
        ),
        "",
    );
    let tun = raw.tun.as_ref().map(|t| tun(rep, t));
    let admin = raw
        .admin
        .as_ref()
        .map(|a| gateway_sections::admin(rep, a, Admin::DEFAULT_TUNNEL_BIND, base));
    let services = services(rep, raw, tun.as_ref().and_then(Option::as_ref));
    let exits = exits(rep, &raw.exit);
    Some(TunnelConfig {
        gateway: gateway?,
        name: name?,
        token: token?,
        ca: ca?,
        gateway_fingerprint: gateway_fingerprint?,
        link: link?,
        tun: tun.map_or(Some(None), |t| t.map(Some))?,
        admin: admin.map_or(Some(None), |a| a.map(Some))?,
        services: services?,
        exits: exits?,
    })
}

/// Every `[[exit]]`.
fn exits(rep: &mut Reporter<'_>, raw: &[S<RawExit>]) -> Option<Vec<Exit>> {
    let mut out = Some(Vec::new());
    for item in raw {
        match exit(rep, item.get_ref()) {
            Some(e) => {
                if let Some(v) = out.as_mut() {
                    v.push(e);
                }
            }
            None => out = None,
        }
    }
    out
}

/// One `[[exit]]`: `allow` holds networks, addresses and host patterns;
/// `ports` is required.
fn exit(rep: &mut Reporter<'_>, raw: &RawExit) -> Option<Exit> {
    if raw.allow.get_ref().is_empty() {
        rep.error(
            raw.allow.span(),
            "empty `allow`; name the networks or hosts this client may dial, e.g. \"192.168.1.0/24\"",
        );
    }
    let mut allow = Some(Vec::new());
    for entry in raw.allow.get_ref() {
        let text = entry.get_ref();
        let target = fields::parse_net(text).map(ExitTarget::Net).or_else(|| {
            HostPattern::parse(text)
                .ok()
                .filter(|p| *p != HostPattern::Any)
                .map(ExitTarget::Host)
        });
        match target {
            Some(t) => {
                if let Some(v) = allow.as_mut() {
                    v.push(t);
                }
            }
            None => {
                rep.error(
                    entry.span(),
                    format!(
                        "exit `{text}` is not a network, an address or a host name (\"*\" alone is not allowed)"
                    ),
                );
                allow = None;
            }
        }
    }
    let ports = fields::ports(rep, Some(&raw.ports));
    let allow = allow.filter(|a| !a.is_empty());
    Some(Exit {
        allow: allow?,
        ports: ports?,
    })
}

/// `[tun]`.
fn tun(rep: &mut Reporter<'_>, item: &S<RawTun>) -> Option<Tun> {
    let raw = item.get_ref();
    let device = match &raw.device {
        None => Some(Tun::DEFAULT_DEVICE.to_owned()),
        Some(d) => device_name(rep, d),
    };
    let address = raw
        .address
        .as_ref()
        .map(|a| ip::<Ipv4Addr>(rep, a, "address", "IPv4"));
    let address6 = raw
        .address6
        .as_ref()
        .map(|a| ip::<Ipv6Addr>(rep, a, "address6", "IPv6"));
    if address.is_none() && address6.is_none() {
        rep.error(item.span(), "[tun] needs `address`, `address6` or both");
    }
    let routes = match raw
        .routes
        .as_ref()
        .map(|r| (r.get_ref().as_str(), r.span()))
    {
        None | Some(("policy", _)) => Some(RouteMode::Policy),
        Some(("main", _)) => Some(RouteMode::Main),
        Some((other, span)) => {
            rep.error(span, format!("routes `{other}`; valid: policy, main"));
            None
        }
    };
    let table = match &raw.table {
        None => Some(Tun::DEFAULT_TABLE),
        Some(t) => {
            let n = *t.get_ref();
            let fits = u32::try_from(n).ok().filter(|n| *n != 0);
            if RESERVED_TABLES.contains(&n) {
                rep.error(
                    t.span(),
                    format!("table {n} is reserved (253 default, 254 main, 255 local); pick another, e.g. 7777"),
                );
                None
            } else if fits.is_none() {
                rep.error(t.span(), format!("table {n} is not in 1..=4294967295"));
                None
            } else {
                fits
            }
        }
    };
    Some(Tun {
        device: device?,
        address: address.map_or(Some(None), |a| a.map(Some))?,
        address6: address6.map_or(Some(None), |a| a.map(Some))?,
        routes: routes?,
        table: table?,
    })
}

/// A network device name: 1 to 15 bytes of letters, digits, `-`, `_`, `.`.
fn device_name(rep: &mut Reporter<'_>, v: &S<String>) -> Option<String> {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= Tun::MAX_DEVICE_LEN
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        rep.error(
            v.span(),
            format!(
                "invalid device name `{s}`: use 1 to {} letters, digits, `-`, `_` or `.`",
                Tun::MAX_DEVICE_LEN
            ),
        );
        return None;
    }
    Some(s.clone())
}

/// A specific (not unspecified) IP address of one family.
fn ip<T: std::str::FromStr + Into<IpAddr> + Copy>(
    rep: &mut Reporter<'_>,
    v: &S<String>,
    what: &str,
    family: &str,
) -> Option<T> {
    match v.get_ref().parse::<T>() {
        Ok(a) if !a.into().is_unspecified() => Some(a),
        _ => {
            rep.error(
                v.span(),
                format!(
                    "{what} `{}` is not a specific {family} address",
                    v.get_ref()
                ),
            );
            None
        }
    }
}

/// Every `[[service]]`: at least one, no host pattern twice.
fn services(
    rep: &mut Reporter<'_>,
    raw: &RawTunnelConfig,
    tun: Option<&Tun>,
) -> Option<Vec<Service>> {
    if raw.service.is_empty() {
        rep.error(
            0..0,
            "no `[[service]]`; add at least one, e.g. hosts = [\"*\"] and to = \"127.0.0.1:8080\"",
        );
        return None;
    }
    let mut claims = PatternClaims::default();
    let mut out = Some(Vec::new());
    for item in &raw.service {
        match service(rep, item.get_ref(), raw.tun.is_some(), tun, &mut claims) {
            Some(s) => {
                if let Some(v) = out.as_mut() {
                    v.push(s);
                }
            }
            None => out = None,
        }
    }
    out
}

/// One `[[service]]`. `has_tun` says whether `[tun]` was written at all;
/// `tun` is its validated form when it is valid.
fn service(
    rep: &mut Reporter<'_>,
    raw: &RawService,
    has_tun: bool,
    tun: Option<&Tun>,
    claims: &mut PatternClaims,
) -> Option<Service> {
    let hosts = fields::host_patterns(rep, &raw.hosts);
    let ports = fields::ports(rep, raw.ports.as_ref());
    let scope: Vec<String> = ports.iter().flatten().map(u16::to_string).collect();
    for (pattern, span) in hosts.iter().flatten() {
        claims.claim(
            rep,
            (pattern, ProtocolSet::ALL, &scope),
            span.clone(),
            "service",
        );
    }
    let to = fields::socket_addr(rep, &raw.to, "service `to`");
    let source = match raw
        .source
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("tunnel", _)) => Some(SourceMode::Tunnel),
        Some(("original", span)) => {
            if !has_tun {
                rep.error(
                    rep.key_span(span),
                    "`source = \"original\"` needs a `[tun]` section",
                );
            }
            Some(SourceMode::Original)
        }
        Some((other, span)) => {
            rep.error(span, format!("source `{other}`; valid: original, tunnel"));
            None
        }
    };
    if let (Some(SourceMode::Original), Some(to), Some(tun)) = (source, to, tun) {
        let on_tun = match to.ip() {
            IpAddr::V4(a) => tun.address == Some(a),
            IpAddr::V6(a) => tun.address6 == Some(a),
        };
        if !on_tun {
            rep.error(
                raw.to.span(),
                format!(
                    "with source = \"original\", `to` must be a [tun] address ({}) and a port",
                    tun_addresses(tun)
                ),
            );
        }
    }
    let proxy_protocol = fields::proxy_version(rep, raw.proxy_protocol.as_ref());
    if let (Some(SourceMode::Original), Some(pp)) = (source, &raw.proxy_protocol) {
        rep.error(
            rep.key_span(pp.span()),
            "`proxy_protocol` needs source = \"tunnel\"; with \"original\" the service sees the client address itself",
        );
    }
    Some(Service {
        hosts: hosts?.into_iter().map(|(p, _)| p).collect(),
        to: to?,
        source: source?,
        proxy_protocol: proxy_protocol?,
        ports: ports?,
    })
}

/// The `[tun]` addresses, for messages.
fn tun_addresses(tun: &Tun) -> String {
    let v4 = tun.address.map(|a| a.to_string());
    let v6 = tun.address6.map(|a| a.to_string());
    [v4, v6]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `sha256:` (any case; OpenSSL's `sha256 Fingerprint=` prefix is not
/// accepted) and 32 bytes in hex, optionally with `:` between them.
fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let (scheme, hex) = text.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sha256") {
        return None;
    }
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64
        || !digits.iter().all(u8::is_ascii_hexdigit)
        || (hex.contains(':') && hex.len() != 95)
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod fingerprint_tests {
    use super::parse_fingerprint;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let plain = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(parse_fingerprint(&plain), Some([0xab; 32]));
        let colons = format!("SHA256:{}", vec!["AB"; 32].join(":"));
        assert_eq!(parse_fingerprint(&colons), Some([0xab; 32]));
        assert_eq!(parse_fingerprint(&"ab".repeat(32)), None);
        assert_eq!(
            parse_fingerprint(&format!("sha1:{}", "ab".repeat(32))),
            None
        );
        assert_eq!(
            parse_fingerprint(&format!("sha256:{}", "ab".repeat(31))),
            None
        );
        assert_eq!(
            parse_fingerprint(&format!("sha256:{}", "zz".repeat(32))),
            None
        );
        assert_eq!(
            parse_fingerprint(&format!("sha256:+{}", "a".repeat(63))),
            None
        );
        assert_eq!(parse_fingerprint("sha256:"), None);
    }
}
