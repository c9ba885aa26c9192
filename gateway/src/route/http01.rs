//! ACME HTTP-01 challenge interception: a detected HTTP request for
//! `/.well-known/acme-challenge/…` (for a name `[http01].hosts` admits) is
//! forwarded unchanged to the `[http01]` backend, or answered with a
//! `302 Found` to the configured base plus the original path.
//!
//! Only the first request of a connection is inspected: after the decision
//! the gateway forwards bytes without parsing them, so a later request on a
//! kept-alive connection goes wherever the first one went.

use portico_config::HostPattern;
use portico_config::model::{Backend, Http01, Http01Action};
use portico_sniff::{Detection, Hostname, Protocol};

/// The path prefix of HTTP-01 challenge requests (RFC 8555 section 8.3).
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// What to do with a detected connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Not an intercepted challenge: route as usual.
    Route,
    /// Forward the request unchanged to this backend.
    Forward(&'a Backend),
    /// Answer with this complete `302 Found` response and close.
    Redirect(Vec<u8>),
}

fn admits(patterns: &[HostPattern], host: Option<&Hostname>) -> bool {
    patterns.is_empty() || patterns.iter().any(|pattern| pattern.matches(host))
}

/// Decides whether `detection` is an intercepted HTTP-01 challenge.
pub fn decide<'a>(config: Option<&'a Http01>, detection: &Detection) -> Decision<'a> {
    let Some(config) = config else {
        return Decision::Route;
    };
    if detection.protocol != Protocol::Http {
        return Decision::Route;
    }
    let Some(http) = &detection.http else {
        return Decision::Route;
    };
    if !http.path.starts_with(CHALLENGE_PREFIX) || !admits(&config.hosts, detection.host.as_ref()) {
        return Decision::Route;
    }
    match &config.action {
        Http01Action::Forward(backend) => Decision::Forward(backend),
        Http01Action::Redirect(base) => Decision::Redirect(redirect_response(base, &http.path)),
    }
}

/// A `302 Found` to `base` + `path` that closes the connection.
pub fn redirect_response(base: &str, path: &str) -> Vec<u8> {
    format!("HTTP/1.1 302 Found\r\nLocation: {base}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_sniff::Http;

    fn host(name: &str) -> Hostname {
        Hostname::parse(name.as_bytes()).expect("valid hostname in test")
    }

    fn request(host_name: Option<&str>, path: &str) -> Detection {
        Detection {
            protocol: Protocol::Http,
            host: host_name.map(host),
            port: None,
            consume: 0,
            tls: None,
            connect: None,
            socks5: None,
            http: Some(Http {
                method: "GET".into(),
                path: path.into(),
                h2_preface: false,
                minor_version: 1,
            }),
        }
    }

    fn forward_config(hosts: Vec<HostPattern>) -> Http01 {
        Http01 {
            action: Http01Action::Forward(Backend {
                host: "192.0.2.5".into(),
                port: Some(80),
            }),
            hosts,
        }
    }

    #[test]
    fn challenge_is_forwarded() {
        let config = forward_config(Vec::new());
        let d = decide(
            Some(&config),
            &request(Some("a.example.org"), "/.well-known/acme-challenge/tok"),
        );
        assert!(matches!(d, Decision::Forward(b) if b.host == "192.0.2.5" && b.port == Some(80)));
    }

    #[test]
    fn other_paths_and_protocols_route_normally() {
        let config = forward_config(Vec::new());
        assert_eq!(
            decide(
                Some(&config),
                &request(Some("a.example.org"), "/index.html")
            ),
            Decision::Route
        );
        assert_eq!(
            decide(
                Some(&config),
                &request(Some("a.example.org"), "/.well-known/acme")
            ),
            Decision::Route
        );
        let mut tls = request(Some("a.example.org"), "/.well-known/acme-challenge/x");
        tls.protocol = Protocol::Tls;
        assert_eq!(decide(Some(&config), &tls), Decision::Route);
        assert_eq!(
            decide(
                None,
                &request(Some("a.example.org"), "/.well-known/acme-challenge/x")
            ),
            Decision::Route
        );
    }

    #[test]
    fn host_filter_is_honoured() {
        let config = forward_config(vec![
            HostPattern::Exact(host("example.org")),
            HostPattern::Wildcard(host("example.net")),
        ]);
        let path = "/.well-known/acme-challenge/t";
        assert!(matches!(
            decide(Some(&config), &request(Some("example.org"), path)),
            Decision::Forward(_)
        ));
        assert!(matches!(
            decide(Some(&config), &request(Some("www.example.net"), path)),
            Decision::Forward(_)
        ));
        assert_eq!(
            decide(Some(&config), &request(Some("example.net"), path)),
            Decision::Route
        );
        assert_eq!(
            decide(Some(&config), &request(Some("badexample.net"), path)),
            Decision::Route
        );
        assert_eq!(
            decide(Some(&config), &request(Some("other.org"), path)),
            Decision::Route
        );
        assert_eq!(decide(Some(&config), &request(None, path)), Decision::Route);
    }

    #[test]
    fn redirect_keeps_the_original_path() {
        let config = Http01 {
            action: Http01Action::Redirect("http://acme.example.net".into()),
            hosts: Vec::new(),
        };
        let d = decide(
            Some(&config),
            &request(Some("a.example.org"), "/.well-known/acme-challenge/abc?x=1"),
        );
        let Decision::Redirect(bytes) = d else {
            panic!("expected a redirect, got {d:?}")
        };
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            "HTTP/1.1 302 Found\r\nLocation: http://acme.example.net/.well-known/acme-challenge/abc?x=1\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}
