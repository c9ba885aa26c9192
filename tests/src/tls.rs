//! rustls clients for the tests: an HTTPS GET (Pebble's directory and
//! roots), and a handshake against a rustls server built with an ACME
//! manager's resolver.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use portico_gateway::acme::CertResolver;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection, StreamOwned};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::acme::IO_BOUND;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting the certificates in `pem`.
pub fn client_config(pem: &[u8]) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert?)?;
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A blocking HTTPS GET of `path` on 127.0.0.1:`port` (SNI `localhost`); the body.
pub fn https_get(port: u16, path: &str, ca_pem: &[u8]) -> Result<Vec<u8>> {
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(IO_BOUND))?;
    tcp.set_write_timeout(Some(IO_BOUND))?;
    let conn = ClientConnection::new(
        Arc::new(client_config(ca_pem)?),
        ServerName::try_from("localhost")?,
    )?;
    let mut tls = StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    tls.flush()?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // Go servers may close without close_notify.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP header end"))?;
    let (head, body) = response.split_at(split);
    let head = String::from_utf8_lossy(head).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {head}");
    }
    Ok(body.get(4..).unwrap_or_default().to_vec())
}

/// A TLS handshake against a rustls server built with `resolver`, from a
/// client that trusts `root_pem` and asks for `sni`; the serial of the
/// certificate the client verified.
pub async fn served_serial(
    resolver: Arc<CertResolver>,
    root_pem: Vec<u8>,
    sni: &str,
) -> Result<String> {
    let sni = sni.to_owned();
    tokio::task::spawn_blocking(move || -> Result<String> {
        let server_config = Arc::new(resolver.server_config(Vec::new())?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = std::thread::spawn(move || -> Result<()> {
            let (tcp, _) = listener.accept()?;
            tcp.set_read_timeout(Some(IO_BOUND))?;
            tcp.set_write_timeout(Some(IO_BOUND))?;
            let mut tls = StreamOwned::new(ServerConnection::new(server_config)?, tcp);
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte)?;
            tls.write_all(&byte)?;
            tls.flush()?;
            Ok(())
        });
        let tcp = std::net::TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(IO_BOUND))?;
        tcp.set_write_timeout(Some(IO_BOUND))?;
        let conn = ClientConnection::new(
            Arc::new(client_config(&root_pem)?),
            ServerName::try_from(sni)?,
        )?;
        let mut tls = StreamOwned::new(conn, tcp);
        tls.write_all(b"x")?;
        tls.flush()?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte)?;
        let leaf = tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| anyhow!("no peer certificate"))?
            .clone();
        server
            .join()
            .map_err(|_| anyhow!("server thread panicked"))??;
        let (_, cert) = X509Certificate::from_der(leaf.as_ref())?;
        Ok(cert.tbs_certificate.raw_serial_as_string())
    })
    .await?
}
