//! The TOML of both programs as serde reads it, before validation. Every
//! value that validation checks keeps its byte span, so each later error
//! points at the text it is about.

use serde::Deserialize;
use serde_spanned::Spanned;

/// A value with its byte span in the file.
pub(crate) type S<T> = Spanned<T>;

/// A list of strings, each with its span, and the list's own span.
pub(crate) type StrList = S<Vec<S<String>>>;

/// A string or a list of strings (`contact = "mailto:..."` or `[...]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    /// A single string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A gateway configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    #[serde(default)]
    pub(crate) listener: Vec<S<RawListener>>,
    #[serde(default)]
    pub(crate) udp_listener: Vec<S<RawUdpListener>>,
    #[serde(default)]
    pub(crate) route: Vec<S<RawRoute>>,
    pub(crate) http01: Option<S<RawHttp01>>,
    pub(crate) acme: Option<S<RawAcme>>,
    #[serde(default)]
    pub(crate) certificate: Vec<S<RawCertificate>>,
    pub(crate) tunnels: Option<S<RawTunnels>>,
    #[serde(default)]
    pub(crate) tunnel: Vec<S<RawTunnel>>,
    pub(crate) admin: Option<S<RawAdmin>>,
    pub(crate) limits: Option<S<RawLimits>>,
    #[serde(default)]
    pub(crate) user: Vec<S<RawUser>>,
}

/// `[[listener]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListener {
    pub(crate) name: Option<S<String>>,
    pub(crate) bind: S<String>,
    pub(crate) protocols: Option<StrList>,
    pub(crate) peek_timeout: Option<S<String>>,
    pub(crate) connect_timeout: Option<S<String>>,
    pub(crate) idle_timeout: Option<S<String>>,
    pub(crate) accept_proxy: Option<StrList>,
    pub(crate) other_after: Option<S<String>>,
}

/// `[[udp_listener]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUdpListener {
    pub(crate) name: Option<S<String>>,
    pub(crate) bind: S<String>,
    pub(crate) protocols: Option<StrList>,
    pub(crate) flow_idle: Option<S<String>>,
    pub(crate) peek_timeout: Option<S<String>>,
    pub(crate) max_flows: Option<S<i64>>,
    pub(crate) max_flows_per_ip: Option<S<i64>>,
}

/// A list of integers (ports), each with its span, and the list's own span.
pub(crate) type IntList = S<Vec<S<i64>>>;

/// `[[route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) hosts: StrList,
    pub(crate) protocols: Option<StrList>,
    pub(crate) backend: Option<S<String>>,
    pub(crate) tunnel: Option<S<String>>,
    pub(crate) proxy_protocol: Option<S<String>>,
    pub(crate) terminate_tls: Option<S<bool>>,
    pub(crate) alpn: Option<StrList>,
    pub(crate) listeners: Option<StrList>,
    pub(crate) ports: Option<IntList>,
    pub(crate) users: Option<StrList>,
    pub(crate) allow: Option<StrList>,
    pub(crate) deny: Option<StrList>,
    pub(crate) exit: Option<S<bool>>,
    pub(crate) backend_tls: Option<S<bool>>,
    pub(crate) backend_ca: Option<S<String>>,
    pub(crate) backend_name: Option<S<String>>,
}

/// `[[user]]`: credentials for the proxy protocols.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    pub(crate) name: S<String>,
    pub(crate) password_file: S<String>,
}

/// `[[certificate]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertificate {
    pub(crate) cert: S<String>,
    pub(crate) key: S<String>,
}

/// `[http01]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp01 {
    pub(crate) backend: Option<S<String>>,
    pub(crate) redirect: Option<S<String>>,
    pub(crate) hosts: Option<StrList>,
}

/// `[acme]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcme {
    pub(crate) directory: S<String>,
    pub(crate) contact: Option<S<OneOrMany>>,
    pub(crate) domains: StrList,
    pub(crate) storage: S<String>,
    pub(crate) directory_ca: Option<S<String>>,
    pub(crate) renew_before: Option<S<String>>,
    pub(crate) tls_handshake_timeout: Option<S<String>>,
}

/// `[tunnels]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTunnels {
    pub(crate) bind: S<String>,
    pub(crate) cert: Option<S<String>>,
    pub(crate) key: Option<S<String>>,
    pub(crate) acme: Option<S<bool>>,
    pub(crate) storage: Option<S<String>>,
    pub(crate) max_udp_payload: Option<S<i64>>,
    pub(crate) udp_receive_buffer: Option<S<i64>>,
    pub(crate) udp_send_buffer: Option<S<i64>>,
}

/// `[[tunnel]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTunnel {
    pub(crate) name: S<String>,
    pub(crate) token_file: S<String>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) bind: Option<S<String>>,
    pub(crate) token_file: Option<S<String>>,
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) max_connections: Option<S<i64>>,
    pub(crate) max_connections_per_ip: Option<S<i64>>,
    pub(crate) shutdown_grace: Option<S<String>>,
    pub(crate) tls_hello_max: Option<S<i64>>,
    pub(crate) http_head_max: Option<S<i64>>,
    pub(crate) xmpp_head_max: Option<S<i64>>,
    pub(crate) refusal_log_rate: Option<S<i64>>,
    pub(crate) login_failures: Option<S<i64>>,
    pub(crate) login_window: Option<S<String>>,
    pub(crate) login_sources_max: Option<S<i64>>,
}

/// A tunnel-client configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTunnelConfig {
    pub(crate) gateway: S<String>,
    pub(crate) name: S<String>,
    pub(crate) token_file: S<String>,
    pub(crate) ca: Option<S<String>>,
    pub(crate) gateway_fingerprint: Option<S<String>>,
    pub(crate) max_udp_payload: Option<S<i64>>,
    pub(crate) udp_receive_buffer: Option<S<i64>>,
    pub(crate) udp_send_buffer: Option<S<i64>>,
    pub(crate) tun: Option<S<RawTun>>,
    pub(crate) admin: Option<S<RawAdmin>>,
    #[serde(default)]
    pub(crate) service: Vec<S<RawService>>,
    #[serde(default)]
    pub(crate) exit: Vec<S<RawExit>>,
}

/// `[[exit]]`: what the tunnel client may dial for the gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExit {
    pub(crate) allow: StrList,
    pub(crate) ports: IntList,
}

/// `[tun]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTun {
    pub(crate) device: Option<S<String>>,
    pub(crate) address: Option<S<String>>,
    pub(crate) address6: Option<S<String>>,
    pub(crate) routes: Option<S<String>>,
    pub(crate) table: Option<S<i64>>,
}

/// `[[service]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub(crate) hosts: StrList,
    pub(crate) to: S<String>,
    pub(crate) source: Option<S<String>>,
    pub(crate) proxy_protocol: Option<S<String>>,
    pub(crate) ports: Option<IntList>,
}

/// Parses `source` into `T`, or reports the one TOML or schema error the
/// parser stops at (with its span when it has one).
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(
    reporter: &mut crate::diagnostics::Reporter<'_>,
    source: &str,
) -> Option<T> {
    match toml::from_str::<T>(source) {
        Ok(v) => Some(v),
        Err(e) => {
            let message = e.message().trim().to_owned();
            reporter.error(e.span().unwrap_or(0..0), message);
            None
        }
    }
}
