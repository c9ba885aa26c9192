//! `host[:port]` addresses of backends and of the gateway: an IP literal
//! (IPv6 in brackets) or a DNS name, and a port in 1..=65535.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portico_sniff::Hostname;

use crate::model::Backend;

/// Splits and checks `host[:port]`; the host comes back without brackets,
/// lower-cased. With `port_required`, a missing port is an error.
pub(crate) fn parse_host_port(
    text: &str,
    port_required: bool,
) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: missing `]` after the IPv6 address"))?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("`{inside}` is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("`{text}`: expected `:port` after `]`"))?,
            ),
        };
        (ip.to_string(), port)
    } else {
        match text.matches(':').count() {
            0 => (host_name(text)?, None),
            1 => {
                let (h, p) = text.split_once(':').unwrap_or((text, ""));
                (host_name(h)?, Some(p))
            }
            _ => {
                return Err(format!(
                    "`{text}`: write an IPv6 address in brackets, e.g. \"[2001:db8::1]:443\""
                ));
            }
        }
    };
    let port = port.map(parse_port).transpose()?;
    if port_required && port.is_none() {
        return Err(format!("`{text}` has no port; write host:port"));
    }
    Ok((host, port))
}

/// An IPv4 literal or a DNS name, normalised.
fn host_name(text: &str) -> Result<String, String> {
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(ip.to_string());
    }
    let name = Hostname::parse(text.as_bytes())
        .map_err(|e| format!("`{text}` is neither an IP address nor a valid hostname ({e})"))?;
    Ok(name.as_str().to_owned())
}

/// A port in 1..=65535.
fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port `{text}` is not in 1..=65535")),
        Ok(p) => Ok(p),
    }
}

/// A backend `host[:port]`.
pub(crate) fn parse_backend(text: &str) -> Result<Backend, String> {
    let (host, port) = parse_host_port(text, false)?;
    Ok(Backend { host, port })
}

/// `host:port` in its normal written form (IPv6 in brackets).
pub(crate) fn format_host_port(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(host: &str, port: Option<u16>) -> Backend {
        Backend {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn ip_literals() {
        assert_eq!(
            parse_backend("[200::1]:80"),
            Ok(backend("200::1", Some(80)))
        );
        assert_eq!(
            parse_backend("[200:1111:2222::1]"),
            Ok(backend("200:1111:2222::1", None))
        );
        assert_eq!(
            parse_backend("10.0.0.1:8080"),
            Ok(backend("10.0.0.1", Some(8080)))
        );
        assert_eq!(parse_backend("10.0.0.1"), Ok(backend("10.0.0.1", None)));
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_backend("Backend.Example.org:443"),
            Ok(backend("backend.example.org", Some(443)))
        );
        assert_eq!(
            parse_host_port("gw.example.org:7443", true),
            Ok(("gw.example.org".to_owned(), Some(7443)))
        );
        assert_eq!(format_host_port("::1", 7443), "[::1]:7443");
        assert_eq!(format_host_port("gw.example.org", 1), "gw.example.org:1");
    }

    #[test]
    fn rejects() {
        for bad in [
            "200::1",
            "[200::1",
            "[200::1]80",
            "[not-ip]:80",
            "host:0",
            "host:65536",
            "host:",
            "host:http",
            "",
            "bad host:80",
            "*.example.org:80",
        ] {
            assert!(parse_backend(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_host_port("gw.example.org", true).is_err());
    }
}
