//! Fixtures of the tunnel tests: a throwaway PKI, a gateway with
//! `[tunnels]` and a route into tunnel "home", and a minimal tunnel client
//! built from `portico_link`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_config::GatewayConfig;
use portico_config::HostPattern;
use portico_config::Secret;
use portico_config::model::{
    LinkCert, LinkTuning, ProxyVersion, Route, Target, TunnelClient, TunnelsListen,
};
use portico_link::{
    ConnectError, HEADER_VERSION, Hello, LinkSettings, Session, Trust, client_endpoint,
    connect_session,
};
use portico_sniff::ProtocolSet;
use quinn::Endpoint;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tempfile::NamedTempFile;

use crate::pipeline::{config, start};
use portico_gateway::Gateway;

/// The name in the gateway's link certificate.
const SERVER_NAME: &str = "gateway.test";
/// The token of tunnel "home".
pub(crate) const TOKEN: &[u8] = b"correct horse battery staple";
/// The request every test sends.
pub(crate) const REQUEST: &[u8] = b"GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n";
/// The answer the in-test tunnel client sends.
pub(crate) const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
/// The most a test reads from one stream.
pub(crate) const READ_CAP: usize = 64 * 1024;

/// A throwaway CA and the gateway's certificate, as PEM files.
pub(crate) struct Pki {
    /// The CA certificate.
    pub(crate) ca: NamedTempFile,
    /// The gateway's certificate.
    pub(crate) cert: NamedTempFile,
    /// The gateway's key.
    pub(crate) key: NamedTempFile,
}

fn pem_file(text: &str) -> NamedTempFile {
    let mut file = NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write pem");
    file
}

pub(crate) fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "portico gateway test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
        .expect("ca cert");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec![SERVER_NAME.to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf cert");
    Pki {
        ca: pem_file(&ca.pem()),
        cert: pem_file(&leaf.pem()),
        key: pem_file(&leaf_key.serialize_pem()),
    }
}

pub(crate) fn tunnel_route() -> Route {
    Route {
        hosts: vec![HostPattern::Any],
        protocols: ProtocolSet::NAMED,
        target: Target::Tunnel("home".into()),
        // Tunnel streams carry the client in their header instead.
        proxy_protocol: Some(ProxyVersion::V2),
        terminate_tls: false,
        alpn: portico_config::model::Route::default_alpn(),
        access: Default::default(),
        backend_tls: None,
    }
}

pub(crate) fn tunnel_config(pki: &Pki) -> GatewayConfig {
    let mut config = config(vec![tunnel_route()]);
    config.tunnels = Some(TunnelsListen {
        bind: "127.0.0.1:0".parse().expect("addr"),
        cert: LinkCert::Files {
            cert: pki.cert.path().to_path_buf(),
            key: pki.key.path().to_path_buf(),
        },
        link: LinkTuning::default(),
    });
    config.tunnel = vec![TunnelClient {
        name: "home".into(),
        token: Secret::new(TOKEN.to_vec()),
    }];
    config
}

/// A gateway with `[tunnels]`: it, its TCP listener and its link address.
pub(crate) async fn tunnel_gateway(pki: &Pki) -> (Arc<Gateway>, SocketAddr, SocketAddr) {
    let (gateway, addr) = start(tunnel_config(pki)).await;
    let link = gateway.tunnel_addr().expect("[tunnels] bound");
    (gateway, addr, link)
}

/// Dials the gateway's link as tunnel `name` with `token`.
pub(crate) async fn dial(
    pki: &Pki,
    link: SocketAddr,
    name: &str,
    token: &[u8],
) -> (Endpoint, Result<Session, ConnectError>) {
    let settings = LinkSettings::default();
    let trust = Trust::CaFile(pki.ca.path().to_path_buf());
    let endpoint = client_endpoint("127.0.0.1:0".parse().expect("addr"), &trust, &settings)
        .expect("client endpoint");
    let hello = Hello {
        version: HEADER_VERSION,
        name: name.to_owned(),
        token: token.to_vec(),
    };
    let session = connect_session(&endpoint, link, SERVER_NAME, hello, &settings).await;
    (endpoint, session)
}

/// A session of tunnel "home", registered on the gateway's side.
pub(crate) async fn connect_home(
    pki: &Pki,
    gateway: &Gateway,
    link: SocketAddr,
) -> (Endpoint, Session) {
    let before = gateway.tunnels().session_count("home");
    let (endpoint, session) = dial(pki, link, "home", TOKEN).await;
    let session = session.expect("session accepted");
    wait_for_sessions(gateway, before + 1).await;
    (endpoint, session)
}

/// Waits until tunnel "home" has `count` live sessions on the gateway,
/// none of them under a liveness probe.
pub(crate) async fn wait_for_sessions(gateway: &Gateway, count: usize) {
    wait_for_count(gateway, count, 0).await;
}

/// Waits until tunnel "home" has `count` live sessions on the gateway,
/// `suspect` of them under a liveness probe.
pub(crate) async fn wait_for_count(gateway: &Gateway, count: usize, suspect: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while gateway.tunnels().session_count("home") != count
            || gateway.tunnels().suspect_count("home") != suspect
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the gateway's session count settles");
}

/// Answers every stream of `session` with [`RESPONSE`] after reading the
/// request to its end; returns how many streams it answered when the
/// session ends.
pub(crate) fn answer_streams(session: Session) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut answered = 0;
        while let Ok((_header, mut send, mut recv)) = session.accept_stream().await {
            if recv.read_to_end(READ_CAP).await.is_ok() {
                let _ = send.write_all(RESPONSE).await;
                let _ = send.finish();
                answered += 1;
            }
        }
        answered
    })
}

pub(crate) fn is_502(got: &[u8]) -> bool {
    got.starts_with(b"HTTP/1.1 502 Bad Gateway\r\n")
}
