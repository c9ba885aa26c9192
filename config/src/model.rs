//! The validated configuration of both programs: types that cannot hold an
//! invalid value, handed to the running code once loading succeeded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use portico_sniff::ProtocolSet;

use crate::{HostPattern, Secret};

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `[[listener]]`, at least one.
    pub listeners: Vec<Listener>,
    /// `[[route]]`, in file order.
    pub routes: Vec<Route>,
    /// `[http01]`.
    pub http01: Option<Http01>,
    /// `[acme]`.
    pub acme: Option<Acme>,
    /// `[tunnels]`.
    pub tunnels: Option<TunnelsListen>,
    /// `[[tunnel]]`.
    pub tunnel: Vec<TunnelClient>,
    /// `[admin]`; `None` when the section is absent (no admin endpoint).
    pub admin: Option<Admin>,
    /// `[limits]`, with defaults when absent.
    pub limits: GatewayLimits,
}

/// A `[[listener]]`.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Where to listen. `[::]` listens on IPv4 and IPv6.
    pub bind: SocketAddr,
    /// Protocols detected here (default: all).
    pub protocols: ProtocolSet,
    /// No decision by then: refuse (default 5 s).
    pub peek_timeout: Duration,
    /// Backend connect timeout, per address tried (default 5 s).
    pub connect_timeout: Duration,
    /// Close a forwarded connection after this long with no byte either way
    /// (default: none).
    pub idle_timeout: Option<Duration>,
    /// Sources that must send a PROXY v1/v2 header; from anywhere else a
    /// PROXY header is refused. Empty: no PROXY header accepted.
    pub accept_proxy: Vec<IpNet>,
}

/// A `[[route]]`.
#[derive(Debug, Clone)]
pub struct Route {
    /// Names this route serves; never empty.
    pub hosts: Vec<HostPattern>,
    /// Protocol filter (default: all).
    pub protocols: ProtocolSet,
    /// Where the traffic goes.
    pub target: Target,
    /// Prepend a PROXY header to what the backend receives.
    pub proxy_protocol: Option<ProxyVersion>,
    /// Complete TLS here with the `[acme]` certificate and forward plaintext.
    pub terminate_tls: bool,
}

/// Where a route sends its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A backend address.
    Backend(Backend),
    /// A tunnel client, by its `[[tunnel]]` name.
    Tunnel(String),
}

/// A backend `host[:port]`: an IP literal or a DNS name resolved at connect time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// An IP literal (without brackets) or a DNS name.
    pub host: String,
    /// `None`: the port the client connected to.
    pub port: Option<u16>,
}

/// PROXY protocol version to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// Text header.
    V1,
    /// Binary header.
    V2,
}

/// `[http01]`: where ACME HTTP-01 challenge requests go.
#[derive(Debug, Clone)]
pub struct Http01 {
    /// Forward or redirect.
    pub action: Http01Action,
    /// Only challenges for these names are intercepted (default: any name).
    pub hosts: Vec<HostPattern>,
}

/// What to do with an HTTP-01 challenge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Http01Action {
    /// Forward the request unchanged to this backend.
    Forward(Backend),
    /// Answer `302 Found` with `Location: <base><original path>`; base has no trailing `/`.
    Redirect(String),
}

/// `[acme]`: the gateway's own certificates.
#[derive(Debug, Clone)]
pub struct Acme {
    /// ACME directory URL.
    pub directory: String,
    /// Contact URIs (`mailto:`).
    pub contact: Vec<String>,
    /// Names to certify (exact names).
    pub domains: Vec<String>,
    /// Account key and certificates.
    pub storage: PathBuf,
    /// Extra CA to trust for the ACME server.
    pub directory_ca: Option<PathBuf>,
    /// Renew this long before expiry; `None`: when a third of the lifetime is left.
    pub renew_before: Option<Duration>,
}

/// `[tunnels]`: where tunnel clients connect.
#[derive(Debug, Clone)]
pub struct TunnelsListen {
    /// UDP address for QUIC.
    pub bind: SocketAddr,
    /// Certificate source.
    pub cert: LinkCert,
}

/// The link certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCert {
    /// PEM files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// The `[acme]` certificate.
    Acme,
}

/// A `[[tunnel]]` client the gateway accepts.
#[derive(Debug, Clone)]
pub struct TunnelClient {
    /// Its name.
    pub name: String,
    /// Its token, read from `token_file`.
    pub token: Secret,
}

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Default `127.0.0.1:9180`.
    pub bind: SocketAddr,
}

/// `[limits]`: resource bounds of the gateway as a whole.
#[derive(Debug, Clone)]
pub struct GatewayLimits {
    /// Open client connections at most, all listeners together (default 10000).
    pub max_connections: usize,
    /// Open client connections from one client IP at most (default 256).
    pub max_connections_per_ip: usize,
    /// How long SIGTERM waits for open connections to finish (default 30 s).
    pub shutdown_grace: Duration,
    /// TLS ClientHello cap in bytes (default 16 KiB).
    pub tls_hello_max: usize,
    /// HTTP request head cap in bytes (default 16 KiB).
    pub http_head_max: usize,
    /// XMPP stream-header cap in bytes (default 4 KiB).
    pub xmpp_head_max: usize,
}

/// A validated tunnel-client configuration.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// Gateway `host:port` for the QUIC link.
    pub gateway: String,
    /// This client's name.
    pub name: String,
    /// Its token, read from `token_file`.
    pub token: Secret,
    /// Extra CA file for the gateway certificate; `None`: system roots.
    pub ca: Option<PathBuf>,
    /// `[tun]`.
    pub tun: Option<Tun>,
    /// `[[service]]`, at least one.
    pub services: Vec<Service>,
}

/// `[tun]`.
#[derive(Debug, Clone)]
pub struct Tun {
    /// Device name (default `portico0`).
    pub device: String,
    /// Service address for IPv4 clients.
    pub address: Option<std::net::Ipv4Addr>,
    /// Service address for IPv6 clients.
    pub address6: Option<std::net::Ipv6Addr>,
    /// Route layout.
    pub routes: RouteMode,
    /// Routing table for `RouteMode::Policy` (default 7777).
    pub table: u32,
}

/// Where per-peer routes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMode {
    /// Own table plus an `ip rule` from the tun addresses.
    Policy,
    /// Main table.
    Main,
}

/// A `[[service]]`.
#[derive(Debug, Clone)]
pub struct Service {
    /// Which routed names this service takes.
    pub hosts: Vec<HostPattern>,
    /// Local service address.
    pub to: SocketAddr,
    /// How the connection reaches it.
    pub source: SourceMode,
    /// PROXY header (only with `SourceMode::Tunnel`).
    pub proxy_protocol: Option<ProxyVersion>,
}

/// How a service is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceMode {
    /// Through the TUN, from the original client address.
    Original,
    /// A plain local connection.
    Tunnel,
}
