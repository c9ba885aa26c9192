//! The validated configuration of both programs: types that cannot hold an
//! invalid value, handed to the running code once loading succeeded.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use portico_sniff::{Hostname, ProtocolSet};
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use crate::{HostPattern, Secret};

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `[[listener]]` (TCP), in file order; with `udp_listeners`, at least
    /// one listener of either kind.
    pub listeners: Vec<Listener>,
    /// `[[udp_listener]]`, in file order.
    pub udp_listeners: Vec<UdpListener>,
    /// `[[route]]`, in file order.
    pub routes: Vec<Route>,
    /// `[http01]`.
    pub http01: Option<Http01>,
    /// `[acme]`.
    pub acme: Option<Acme>,
    /// `[[certificate]]`: the operator's certificates for `terminate_tls`
    /// routes, in file order, each read and checked at load.
    pub certificates: Vec<Certificate>,
    /// `[tunnels]`.
    pub tunnels: Option<TunnelsListen>,
    /// `[[tunnel]]`.
    pub tunnel: Vec<TunnelClient>,
    /// `[admin]`; `None` when the section is absent (no admin endpoint).
    pub admin: Option<Admin>,
    /// `[limits]`, with defaults when absent.
    pub limits: GatewayLimits,
    /// `[[user]]`: credentials for `connect` and `socks5` routes.
    pub users: Vec<User>,
}

/// A `[[user]]`.
#[derive(Debug, Clone)]
pub struct User {
    /// Its name (what a client sends as the user name).
    pub name: String,
    /// Its password, read from `password_file` (owner-only).
    pub password: Secret,
}

/// A `[[listener]]`.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Its name, for routes' `listeners` filter (optional; unique).
    pub name: Option<String>,
    /// Where to listen. `[::]` listens on IPv4 and IPv6.
    pub bind: SocketAddr,
    /// Protocols detected here (default: all).
    pub protocols: ProtocolSet,
    /// No decision by then: refuse (`peek_timeout`, default
    /// `DEFAULT_PEEK_TIMEOUT`, 5 s).
    pub peek_timeout: Duration,
    /// Backend connect timeout, per address tried (`connect_timeout`,
    /// default `DEFAULT_CONNECT_TIMEOUT`, 5 s).
    pub connect_timeout: Duration,
    /// Close a forwarded connection after this long with no byte either way
    /// (`idle_timeout`, default: none).
    pub idle_timeout: Option<Duration>,
    /// Sources that must send a PROXY v1/v2 header; from anywhere else a
    /// PROXY header is refused. Empty: no PROXY header accepted.
    pub accept_proxy: Vec<IpNet>,
    /// A client silent this long is `other` (`other_after`; only with
    /// `"other"` in `protocols`). Zero: no peek at all, every connection is
    /// `other` at once (a pure port forward). `None`: silence is closed at
    /// `peek_timeout`.
    pub other_after: Option<Duration>,
}

/// A `[[udp_listener]]`: a UDP socket whose datagrams are grouped into
/// flows (one per client address and port) and routed per flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpListener {
    /// Its name, for routes' `listeners` filter (optional; unique among
    /// TCP and UDP listeners).
    pub name: Option<String>,
    /// Where to listen. `[::]` listens on IPv4 and IPv6.
    pub bind: SocketAddr,
    /// `quic` and/or `other` (default: `quic`).
    pub protocols: ProtocolSet,
    /// A flow with no datagram either way this long ends (`flow_idle`,
    /// default [`UdpListener::DEFAULT_FLOW_IDLE`], 60 s).
    pub flow_idle: Duration,
    /// A QUIC flow whose ClientHello is not complete by then is dropped
    /// (`peek_timeout`, default [`UdpListener::DEFAULT_PEEK_TIMEOUT`], 5 s).
    pub peek_timeout: Duration,
    /// Flows open at once on this listener (`max_flows`, default
    /// [`UdpListener::DEFAULT_MAX_FLOWS`]).
    pub max_flows: usize,
    /// Flows open at once from one client IP address (`max_flows_per_ip`,
    /// default [`UdpListener::DEFAULT_MAX_FLOWS_PER_IP`]).
    pub max_flows_per_ip: usize,
}

impl UdpListener {
    /// Default `flow_idle`.
    pub const DEFAULT_FLOW_IDLE: Duration = Duration::from_secs(60);
    /// Default `peek_timeout`.
    pub const DEFAULT_PEEK_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default `max_flows`.
    pub const DEFAULT_MAX_FLOWS: usize = 10_000;
    /// Largest `max_flows` accepted.
    pub const MAX_FLOWS_CAP: usize = 1_000_000;
    /// Default `max_flows_per_ip`.
    pub const DEFAULT_MAX_FLOWS_PER_IP: usize = 256;
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
    /// ALPN protocols offered when terminating TLS, in preference order
    /// (`alpn`, default [`Route::DEFAULT_ALPN`]). The plaintext goes to the
    /// backend in whatever protocol the client picked, so `h2` is only for
    /// backends that speak cleartext HTTP/2 with prior knowledge.
    pub alpn: Vec<String>,
    /// Who may use the route and what they may ask of it.
    pub access: Access,
    /// Speak TLS again to the backend of a terminating route
    /// (`backend_tls = true`, with `backend_ca` and `backend_name`).
    pub backend_tls: Option<BackendTls>,
}

/// A route's access rules: which listeners, clients, users and target
/// ports it admits. The default admits everything the route's names and
/// protocols do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Only connections that came in on these named listeners (`listeners`;
    /// empty: any listener).
    pub listeners: Vec<String>,
    /// Target ports a `connect`, `socks5` or `dial` client may ask for
    /// (`ports`; empty: only the backend's own port, or any port when the
    /// backend has none).
    pub ports: Vec<u16>,
    /// `connect` and `socks5` clients need the credentials of one of these
    /// `[[user]]`s (`users`; empty: no credentials asked).
    pub users: Vec<String>,
    /// Only clients in these networks (`allow`; empty: any client), judged
    /// on the client address after a PROXY header.
    pub allow: Vec<IpNet>,
    /// Never clients in these networks (`deny`); deny beats allow.
    pub deny: Vec<IpNet>,
    /// The requested `host:port` is passed to the tunnel client, whose
    /// `[[exit]]` list decides (`exit`; only with `tunnel`).
    pub exit: bool,
}

impl Access {
    /// Whether a client at `ip` is admitted by `allow` and `deny`.
    pub fn admits_client(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        let allowed = self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip));
        allowed && !self.deny.iter().any(|n| n.contains(&ip))
    }

    /// Whether a connection on the listener named `listener` is admitted.
    pub fn admits_listener(&self, listener: Option<&str>) -> bool {
        self.listeners.is_empty()
            || listener.is_some_and(|name| self.listeners.iter().any(|l| l == name))
    }
}

/// How a terminating route speaks TLS to its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendTls {
    /// The name the backend's certificate must carry, and the SNI sent
    /// (`backend_name`; default: the backend's host, a DNS name or an IP
    /// address).
    pub name: Option<String>,
    /// Trust these certificates (`backend_ca`, read at load) instead of
    /// the system's roots.
    pub ca: Option<BackendCa>,
}

/// A route's `backend_ca`: the file and the certificates it held at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendCa {
    /// The PEM file.
    pub path: PathBuf,
    /// Its certificates, as trust anchors.
    pub certs: Arc<[CertificateDer<'static>]>,
}

/// A `[[certificate]]`: a certificate chain and its key, read from PEM
/// files and checked when the file was loaded (the key matches, the
/// certificate is valid now).
#[derive(Debug, Clone)]
pub struct Certificate {
    /// The chain's file (`cert`).
    pub cert: PathBuf,
    /// The key's file (`key`).
    pub key: PathBuf,
    /// The DNS names the certificate is for, in its order.
    pub names: Vec<CertName>,
    /// End of validity.
    pub not_after: SystemTime,
    /// Chain and signing key, ready to serve.
    pub certified: Arc<CertifiedKey>,
}

/// A DNS name a certificate is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CertName {
    /// Exactly this name (lower-case, no trailing dot).
    Exact(String),
    /// `*.` and this suffix: one more label in front of it, as TLS
    /// clients match wildcard certificates (`*.example.org` covers
    /// `a.example.org`, not `a.b.example.org` nor `example.org`).
    Wildcard(String),
}

impl CertName {
    /// A name as a certificate writes it (`a.example.org`,
    /// `*.example.org`); `None` when it is not a hostname.
    pub fn parse(text: &str) -> Option<CertName> {
        match text.strip_prefix("*.") {
            Some(suffix) => Hostname::parse_str(suffix)
                .ok()
                .map(|h| CertName::Wildcard(h.as_str().to_owned())),
            None => Hostname::parse_str(text)
                .ok()
                .map(|h| CertName::Exact(h.as_str().to_owned())),
        }
    }

    /// Whether the certificate is valid for `name` (lower-case, no
    /// trailing dot, as a sniffed [`Hostname`]).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            CertName::Exact(exact) => exact == name,
            CertName::Wildcard(suffix) => name
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }
}

impl std::fmt::Display for CertName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertName::Exact(name) => f.write_str(name),
            CertName::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

impl Route {
    /// The ALPN protocols a terminating route offers by default: HTTP/1.1
    /// only, which every HTTP backend speaks.
    pub const DEFAULT_ALPN: [&str; 1] = ["http/1.1"];

    /// `DEFAULT_ALPN` as owned strings.
    pub fn default_alpn() -> Vec<String> {
        Self::DEFAULT_ALPN.iter().map(|p| (*p).to_owned()).collect()
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Bound on the TLS handshake of a `terminate_tls` route
    /// (`tls_handshake_timeout`, default [`Acme::DEFAULT_TLS_HANDSHAKE_TIMEOUT`]).
    pub tls_handshake_timeout: Duration,
}

impl Acme {
    /// Default `tls_handshake_timeout`.
    pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
}

/// `[tunnels]`: where tunnel clients connect.
#[derive(Debug, Clone)]
pub struct TunnelsListen {
    /// UDP address for QUIC.
    pub bind: SocketAddr,
    /// Certificate source.
    pub cert: LinkCert,
    /// Datagram size and socket buffers of the link.
    pub link: LinkTuning,
}

/// The link's datagram size and UDP socket buffers: `max_udp_payload`,
/// `udp_receive_buffer` and `udp_send_buffer` in the gateway's `[tunnels]`
/// and at the top level of a tunnel-client file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTuning {
    /// Largest UDP payload this end accepts and probes the path for
    /// (default `DEFAULT_MAX_UDP_PAYLOAD`, within
    /// `UDP_PAYLOAD_MIN`..=`DEFAULT_MAX_UDP_PAYLOAD`).
    pub max_udp_payload: u16,
    /// Receive buffer asked of the kernel for the link's socket, bytes.
    pub udp_receive_buffer: usize,
    /// Send buffer asked of the kernel for the link's socket, bytes.
    pub udp_send_buffer: usize,
}

impl LinkTuning {
    /// Default and largest `max_udp_payload`: ten such datagrams fit one
    /// segmentation-offload send of at most 64 KiB.
    pub(crate) const DEFAULT_MAX_UDP_PAYLOAD: u16 = 6550;
    /// Smallest `max_udp_payload` (QUIC's minimum).
    pub(crate) const UDP_PAYLOAD_MIN: u16 = 1200;
    /// Default `udp_receive_buffer` and `udp_send_buffer` (4 MiB).
    pub(crate) const DEFAULT_UDP_BUFFER: usize = 4 * 1024 * 1024;
    /// Smallest socket buffer accepted (64 KiB).
    pub(crate) const UDP_BUFFER_MIN: usize = 64 * 1024;
    /// Largest socket buffer accepted (64 MiB).
    pub(crate) const UDP_BUFFER_MAX: usize = 64 * 1024 * 1024;
}

impl Default for LinkTuning {
    fn default() -> Self {
        LinkTuning {
            max_udp_payload: Self::DEFAULT_MAX_UDP_PAYLOAD,
            udp_receive_buffer: Self::DEFAULT_UDP_BUFFER,
            udp_send_buffer: Self::DEFAULT_UDP_BUFFER,
        }
    }
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
    /// A self-signed certificate the gateway makes on first start and
    /// keeps in this directory (`[tunnels] storage`, default
    /// [`TunnelsListen::DEFAULT_STORAGE`]); used when `[tunnels]` names
    /// neither `cert`/`key` nor `acme = true`.
    Generated {
        /// The directory.
        storage: PathBuf,
    },
}

impl TunnelsListen {
    /// Default `[tunnels] storage`: the systemd unit's `StateDirectory`.
    pub const DEFAULT_STORAGE: &'static str = "/var/lib/portico";
}

/// A `[[tunnel]]` client the gateway accepts.
#[derive(Debug, Clone)]
pub struct TunnelClient {
    /// Its name.
    pub name: String,
    /// Its token, read from `token_file`.
    pub token: Secret,
}

/// `[admin]` of either program.
#[derive(Debug, Clone)]
pub struct Admin {
    /// `bind`, default `127.0.0.1:9180` on the gateway
    /// ([`Admin::DEFAULT_BIND`]), `127.0.0.1:9181` on the tunnel client
    /// ([`Admin::DEFAULT_TUNNEL_BIND`]).
    pub bind: SocketAddr,
    /// The token read from `token_file`: when set, every path but
    /// `/healthz` needs it.
    pub token: Option<Secret>,
}

/// `[limits]`: resource bounds of the gateway as a whole.
#[derive(Debug, Clone)]
pub struct GatewayLimits {
    /// Open client connections at most, all listeners together
    /// (`max_connections`, default 10000, at most `MAX_CONNECTIONS_CAP`).
    pub max_connections: usize,
    /// Open client connections from one client IP at most
    /// (`max_connections_per_ip`, default 256, at most `max_connections`).
    pub max_connections_per_ip: usize,
    /// How long SIGTERM waits for open connections to finish
    /// (`shutdown_grace`, default 30 s, at most `SHUTDOWN_GRACE_CAP`; 0 allowed).
    pub shutdown_grace: Duration,
    /// TLS ClientHello cap in bytes (`tls_hello_max`, default 16 KiB,
    /// within `HEAD_MAX_MIN`..=`HEAD_MAX_CAP`).
    pub tls_hello_max: usize,
    /// HTTP request head cap in bytes (`http_head_max`, default 16 KiB, same bounds).
    pub http_head_max: usize,
    /// XMPP stream-header cap in bytes (`xmpp_head_max`, default 4 KiB, same bounds).
    pub xmpp_head_max: usize,
    /// Refusal log lines per second at most (`refusal_log_rate`, default
    /// 100, 0..=`REFUSAL_LOG_RATE_CAP`); refusals beyond it
    /// are still counted in the metrics and summed up in one line.
    pub refusal_log_rate: u32,
    /// Failed proxy logins (`connect`, `socks5`) allowed from one client
    /// address (an IPv6 /64) within `login_window` (`login_failures`,
    /// default 5, 1..=`LOGIN_FAILURES_CAP`); past it every login from there
    /// is refused until the window ends.
    pub login_failures: u32,
    /// The window of `login_failures` (`login_window`, default 60 s, at
    /// most a day).
    pub login_window: Duration,
    /// Client addresses whose failed logins are tracked at once
    /// (`login_sources_max`, default 4096, 1..=`LOGIN_SOURCES_CAP`); beyond
    /// it the oldest are forgotten.
    pub login_sources_max: usize,
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
    /// Extra CA file for the gateway certificate; `None`: system roots
    /// (or the fingerprint).
    pub ca: Option<PathBuf>,
    /// `gateway_fingerprint`: accept exactly the gateway certificate with
    /// this SHA-256 digest (never together with `ca`).
    pub gateway_fingerprint: Option<[u8; 32]>,
    /// Datagram size and socket buffers of the link.
    pub link: LinkTuning,
    /// `[tun]`.
    pub tun: Option<Tun>,
    /// `[admin]`; `None` when the section is absent (no admin endpoint).
    pub admin: Option<Admin>,
    /// `[[service]]`, at least one.
    pub services: Vec<Service>,
    /// `[[exit]]`: what this host may dial on the gateway's behalf (none by
    /// default).
    pub exits: Vec<Exit>,
}

/// An `[[exit]]`: targets a route with `exit = true` may reach through
/// this tunnel client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Networks and names admitted (`allow`).
    pub allow: Vec<ExitTarget>,
    /// Ports admitted (`ports`, never empty).
    pub ports: Vec<u16>,
}

/// One entry of an `[[exit]]`'s `allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitTarget {
    /// An address or network, e.g. `192.168.1.0/24`.
    Net(IpNet),
    /// A name or wildcard, e.g. `nas.lan` or `*.lan`.
    Host(HostPattern),
}

/// `[tun]`.
#[derive(Debug, Clone)]
pub struct Tun {
    /// Device name (default `DEFAULT_DEVICE`, at most
    /// `MAX_DEVICE_LEN` bytes).
    pub device: String,
    /// Service address for IPv4 clients.
    pub address: Option<std::net::Ipv4Addr>,
    /// Service address for IPv6 clients.
    pub address6: Option<std::net::Ipv6Addr>,
    /// Route layout (default [`RouteMode::Policy`]).
    pub routes: RouteMode,
    /// Routing table for `RouteMode::Policy` (default `DEFAULT_TABLE`;
    /// never 0, 253, 254 or 255).
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
    /// How the connection reaches it (default [`SourceMode::Tunnel`]).
    pub source: SourceMode,
    /// PROXY header (only with `SourceMode::Tunnel`).
    pub proxy_protocol: Option<ProxyVersion>,
    /// Gateway ports (the port the client reached) this service takes for
    /// nameless connections (`ports`; empty: any).
    pub ports: Vec<u16>,
}

/// How a service is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceMode {
    /// Through the TUN, from the original client address.
    Original,
    /// A plain local connection.
    Tunnel,
}

impl Listener {
    /// Default `peek_timeout`.
    pub(crate) const DEFAULT_PEEK_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default `connect_timeout`.
    pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Admin {
    /// Default admin `bind` of the gateway: loopback only.
    pub const DEFAULT_BIND: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9180));
    /// Default admin `bind` of the tunnel client: loopback only, beside a
    /// gateway's on the same host.
    pub const DEFAULT_TUNNEL_BIND: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9181));
}

impl GatewayLimits {
    /// Default `max_connections`.
    pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
    /// Largest `max_connections` accepted.
    pub(crate) const MAX_CONNECTIONS_CAP: usize = 1_000_000;
    /// Default `max_connections_per_ip`.
    pub(crate) const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
    /// Default `shutdown_grace`.
    pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    /// Longest `shutdown_grace` accepted (one hour).
    pub(crate) const SHUTDOWN_GRACE_CAP: Duration = Duration::from_secs(3600);
    /// Default `tls_hello_max`.
    pub(crate) const DEFAULT_TLS_HELLO_MAX: usize = portico_sniff::Limits::DEFAULT_TLS_HELLO;
    /// Default `http_head_max`.
    pub(crate) const DEFAULT_HTTP_HEAD_MAX: usize = portico_sniff::Limits::DEFAULT_HTTP_HEAD;
    /// Default `xmpp_head_max`.
    pub(crate) const DEFAULT_XMPP_HEAD_MAX: usize = portico_sniff::Limits::DEFAULT_XMPP_HEAD;
    /// Smallest byte cap accepted for `*_max` settings.
    pub(crate) const HEAD_MAX_MIN: usize = 512;
    /// Largest byte cap accepted for `*_max` settings (1 MiB).
    pub(crate) const HEAD_MAX_CAP: usize = 1024 * 1024;
    /// Default `refusal_log_rate`.
    pub const DEFAULT_REFUSAL_LOG_RATE: u32 = 100;
    /// Largest `refusal_log_rate` accepted.
    pub(crate) const REFUSAL_LOG_RATE_CAP: u32 = 1_000_000;
    /// Default `login_failures`.
    pub const DEFAULT_LOGIN_FAILURES: u32 = 5;
    /// Largest `login_failures` accepted.
    pub(crate) const LOGIN_FAILURES_CAP: u32 = 1000;
    /// Default `login_window`.
    pub const DEFAULT_LOGIN_WINDOW: Duration = Duration::from_secs(60);
    /// Longest `login_window` accepted.
    pub(crate) const LOGIN_WINDOW_CAP: Duration = Duration::from_secs(24 * 3600);
    /// Default `login_sources_max`.
    pub const DEFAULT_LOGIN_SOURCES_MAX: usize = 4096;
    /// Largest `login_sources_max` accepted.
    pub(crate) const LOGIN_SOURCES_CAP: usize = 1_000_000;

    /// The detection caps these limits set, other sniff limits at their defaults.
    pub fn sniff_limits(&self) -> portico_sniff::Limits {
        portico_sniff::Limits {
            tls_hello: self.tls_hello_max,
            http_head: self.http_head_max,
            xmpp_head: self.xmpp_head_max,
            ..portico_sniff::Limits::default()
        }
    }
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: Self::DEFAULT_MAX_CONNECTIONS_PER_IP,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            tls_hello_max: Self::DEFAULT_TLS_HELLO_MAX,
            http_head_max: Self::DEFAULT_HTTP_HEAD_MAX,
            xmpp_head_max: Self::DEFAULT_XMPP_HEAD_MAX,
            refusal_log_rate: Self::DEFAULT_REFUSAL_LOG_RATE,
            login_failures: Self::DEFAULT_LOGIN_FAILURES,
            login_window: Self::DEFAULT_LOGIN_WINDOW,
            login_sources_max: Self::DEFAULT_LOGIN_SOURCES_MAX,
        }
    }
}

impl Tun {
    /// Default `device`.
    pub(crate) const DEFAULT_DEVICE: &'static str = "portico0";
    /// Longest device name Linux accepts (IFNAMSIZ - 1).
    pub(crate) const MAX_DEVICE_LEN: usize = 15;
    /// Default `table`.
    pub(crate) const DEFAULT_TABLE: u32 = 7777;
}
