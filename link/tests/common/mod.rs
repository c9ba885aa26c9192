//! Shared fixtures of the transport tests: a throwaway CA and gateway
//! certificate, endpoints on loopback, and a gateway that runs the session
//! handshake.

// Each test binary uses a different subset of these fixtures.
#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use portico_link::{
    AcceptError, FailureLimiter, HEADER_VERSION, Hello, LinkSettings, RefuseReason, Session, Trust,
    accept_connection, accept_session, client_endpoint, connect_session, load_cert_chain,
    load_private_key, server_endpoint, tokens_equal,
};
use quinn::Endpoint;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tempfile::NamedTempFile;
use tokio::task::JoinHandle;

/// The name in the gateway's certificate.
pub const SERVER_NAME: &str = "gateway.test";
/// The token of tunnel "home".
pub const TOKEN: &[u8] = b"correct horse battery staple";

/// A throwaway CA and a gateway certificate it signed, as PEM files.
pub struct Pki {
    /// The CA certificate.
    pub ca: NamedTempFile,
    /// The gateway certificate.
    pub cert: NamedTempFile,
    /// The gateway key.
    pub key: NamedTempFile,
}

/// A temporary file holding `text`.
pub fn pem_file(text: &str) -> anyhow::Result<NamedTempFile> {
    let mut file = NamedTempFile::new()?;
    file.write_all(text.as_bytes())?;
    Ok(file)
}

/// A fresh CA and gateway certificate.
pub fn pki() -> anyhow::Result<Pki> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "portico-link test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec![SERVER_NAME.to_string()])?.signed_by(&leaf_key, &ca)?;
    Ok(Pki {
        ca: pem_file(&ca.pem())?,
        cert: pem_file(&leaf.pem())?,
        key: pem_file(&leaf_key.serialize_pem())?,
    })
}

/// Endpoints on 127.0.0.1 (see [`endpoints_on`]).
pub fn endpoints(pki: &Pki, trust: &Trust) -> anyhow::Result<(Endpoint, Endpoint, SocketAddr)> {
    endpoints_on(IpAddr::V4(Ipv4Addr::LOCALHOST), pki, trust)
}

/// A gateway endpoint from the PEM files and a client endpoint trusting
/// `trust`, both on `ip` with a port the system picks.
pub fn endpoints_on(
    ip: IpAddr,
    pki: &Pki,
    trust: &Trust,
) -> anyhow::Result<(Endpoint, Endpoint, SocketAddr)> {
    let settings = LinkSettings::default();
    let server = server_endpoint(
        SocketAddr::new(ip, 0),
        load_cert_chain(pki.cert.path())?,
        load_private_key(pki.key.path())?,
        &settings,
    )?;
    let addr = server.local_addr()?;
    let client = client_endpoint(SocketAddr::new(ip, 0), trust, &settings)?;
    Ok((server, client, addr))
}

/// The gateway's decision in these tests: tunnel "home" with [`TOKEN`].
pub fn authenticate(name: &str, token: &[u8]) -> Result<(), RefuseReason> {
    if name != "home" {
        return Err(RefuseReason::UnknownName);
    }
    if !tokens_equal(token, TOKEN) {
        return Err(RefuseReason::BadToken);
    }
    Ok(())
}

/// Accepts `count` connections in turn and runs the gateway handshake on each.
pub fn serve(
    server: Endpoint,
    settings: LinkSettings,
    limiter: Arc<FailureLimiter>,
    count: usize,
) -> JoinHandle<anyhow::Result<Vec<Result<Session, AcceptError>>>> {
    tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..count {
            let incoming = server.accept().await.context("endpoint closed")?;
            let outcome = match accept_connection(incoming, &settings).await {
                Ok(conn) => accept_session(conn, &settings, &limiter, authenticate).await,
                Err(err) => Err(err),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    })
}

/// A Hello of the current version.
pub fn hello(name: &str, token: &[u8]) -> Hello {
    Hello {
        version: HEADER_VERSION,
        name: name.to_string(),
        token: token.to_vec(),
    }
}

/// A gateway and a client with an established session on each side.
pub async fn sessions() -> anyhow::Result<(Session, Session, Pki)> {
    sessions_on(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
}

/// A gateway and a client on `ip` with an established session on each side.
pub async fn sessions_on(ip: IpAddr) -> anyhow::Result<(Session, Session, Pki)> {
    let pki = pki()?;
    let trust = Trust::CaFile(pki.ca.path().to_path_buf());
    let (server, client, addr) = endpoints_on(ip, &pki, &trust)?;
    let gateway = serve(server, LinkSettings::default(), Arc::default(), 1);
    let settings = LinkSettings::default();
    let client =
        connect_session(&client, addr, SERVER_NAME, hello("home", TOKEN), &settings).await?;
    let gateway = gateway.await??.pop().context("no outcome")??;
    Ok((gateway, client, pki))
}
