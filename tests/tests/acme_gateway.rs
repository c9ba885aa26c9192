//! The gateway with `[acme]` against a real Pebble: Pebble validates HTTP-01
//! through the gateway's own HTTP listener (the gateway's tokens win over
//! `[http01]` forwarding), the certificate is served on a `terminate_tls`
//! route to curl and to a rustls client (with half-close carried), and on
//! the QUIC tunnel link; a renewal is served to new handshakes; with Pebble
//! gone the gateway keeps serving and counts its retries.
//!
//! The gateway runs in-process (`portico_gateway::Gateway`), so the test
//! can read its ACME manager, metrics and status directly. Needs `pebble`,
//! `pebble-challtestsrv` (`apt-get install -y pebble`), `curl` and `openssl`
//! (the test CA of Pebble's own HTTPS).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use portico_gateway::{Gateway, GatewaySettings};
use portico_link::{LinkSettings, Trust, client_endpoint};
use portico_tests::acme::{IO_BOUND, fast_acme_settings, wait_for};
use portico_tests::net::{free_port, free_udp_port};
use portico_tests::pebble::Pebble;
use portico_tests::tls::client_config;
use portico_tests::tools::require;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The name the gateway certifies; challtestsrv resolves it to 127.0.0.1.
const DOMAIN: &str = "gw.test";
/// A renewal window longer than a Pebble certificate's lifetime: due at once.
const LONG_WINDOW: &str = "365d";
/// A name the terminating route serves but no certificate covers.
const UNCERTIFIED: &str = "nocert.test";

fn settings() -> GatewaySettings {
    GatewaySettings {
        acme: fast_acme_settings(),
    }
}

/// A plain HTTP backend: reads up to the end of the request head or to the
/// client's end of stream, then answers with what it saw and closes.
async fn backend() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                let mut eof = false;
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 16 * 1024 {
                    match tokio::time::timeout(IO_BOUND, stream.read(&mut buf)).await {
                        Ok(Ok(0)) => {
                            eof = true;
                            break;
                        }
                        Ok(Ok(n)) => seen.extend_from_slice(buf.get(..n).unwrap_or_default()),
                        _ => return,
                    }
                }
                let first = String::from_utf8_lossy(&seen)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let body = format!("backend saw [{first}] eof={eof}\n");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(addr)
}

/// The gateway configuration: one listener on `port` (HTTP and TLS), a
/// terminating route for [`DOMAIN`], `[http01]` forwarding to a port where
/// nothing listens, `[acme]` on Pebble and the tunnel link on the ACME cert.
fn config(
    port: u16,
    backend: SocketAddr,
    pebble: &Pebble,
    storage: &Path,
    renew_before: Option<&str>,
) -> Result<portico_config::GatewayConfig> {
    let dead = free_port();
    let link = free_udp_port();
    let renew = renew_before
        .map(|r| format!("renew_before = \"{r}\"\n"))
        .unwrap_or_default();
    let text = format!(
        r#"
[[listener]]
bind = "127.0.0.1:{port}"

[[route]]
hosts = ["{DOMAIN}", "{UNCERTIFIED}"]
terminate_tls = true
backend = "{backend}"

[http01]
backend = "127.0.0.1:{dead}"

[acme]
directory = "{directory}"
contact = "mailto:ops@gw.test"
domains = ["{DOMAIN}"]
storage = "{storage}"
directory_ca = "{ca}"
{renew}
[tunnels]
bind = "127.0.0.1:{link}"
acme = true
"#,
        directory = pebble.directory(),
        storage = storage.display(),
        ca = pebble.https_ca.display(),
    );
    portico_config::parse_gateway(&text, Path::new("/tmp/acme-gateway.toml"))
        .map_err(|d| anyhow!("config: {d:?}"))
}

/// Serial (hex, `:`-separated) and DNS names of the first PEM certificate.
fn leaf_facts(pem: &[u8]) -> Result<(String, Vec<String>)> {
    let der = CertificateDer::pem_slice_iter(pem)
        .next()
        .context("no certificate")??;
    let (_, cert) = X509Certificate::from_der(der.as_ref())?;
    let names = cert
        .subject_alternative_name()?
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((cert.tbs_certificate.raw_serial_as_string(), names))
}

/// What curl reports for `https://gw.test:PORT/` trusting `root`: the
/// body, the verify result and the served leaf's serial and names.
fn curl(port: u16, root: &Path) -> Result<(String, String, String, Vec<String>)> {
    let out = std::process::Command::new(require("curl", "curl"))
        .args(["-sS", "--http1.1", "--max-time", "20", "--cacert"])
        .arg(root)
        .args(["--resolve", &format!("{DOMAIN}:{port}:127.0.0.1")])
        .args(["-w", "\n@@%{ssl_verify_result}@@%{certs}"])
        .arg(format!("https://{DOMAIN}:{port}/"))
        .output()
        .context("running curl (apt-get install -y curl)")?;
    if !out.status.success() {
        bail!("curl failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.splitn(3, "\n@@");
    let body = parts.next().unwrap_or_default().to_owned();
    let rest = parts.next().unwrap_or_default();
    let (verify, certs) = rest.split_once("@@").context("curl -w output")?;
    let (serial, names) = leaf_facts(certs.as_bytes())?;
    Ok((body, verify.to_owned(), serial, names))
}

async fn curl_async(port: u16, root: &Path) -> Result<(String, String, String, Vec<String>)> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || curl(port, &root)).await?
}

/// Writes Pebble's issuing root to `dir/root.pem`.
fn write_root(pebble: &Pebble, dir: &Path) -> Result<std::path::PathBuf> {
    let path = dir.join("root.pem");
    std::fs::write(&path, pebble.issuing_root())?;
    Ok(path)
}

/// Starts a gateway on `port` and waits for its certificate.
async fn gateway_with_cert(
    config: portico_config::GatewayConfig,
    pebble: &Pebble,
) -> Result<Arc<Gateway>> {
    let gateway = Gateway::start_with(config, Vec::new(), settings()).await?;
    let acme = gateway.acme().context("acme manager")?.clone();
    wait_for("the gateway's certificate", || {
        acme.current(DOMAIN).is_some()
    })
    .await
    .with_context(|| format!("pebble logs in {}", pebble.dir().display()))?;
    Ok(gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_obtained_through_own_listener_serves_tls_and_link() -> Result<()> {
    let port = free_port();
    let pebble = Pebble::start(port);
    let backend = backend().await?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(port, backend, &pebble, &tmp.path().join("acme"), None)?;
    let gateway = gateway_with_cert(cfg, &pebble).await?;
    let acme = gateway.acme().context("acme")?.clone();
    let serial = acme.current(DOMAIN).context("current")?.serial;
    // Validation went through the listener although [http01] forwards to
    // a dead port: the gateway's own tokens were answered first.
    assert!(
        gateway
            .metrics()
            .render()
            .contains("protocol=\"http\",outcome=\"answered\"}"),
        "{}",
        gateway.metrics().render()
    );
    assert!(
        gateway
            .metrics()
            .render()
            .contains("portico_acme_renewals_total 1\n")
    );
    assert!(
        gateway
            .status_json()
            .contains(&format!("\"acme\":[{{\"name\":\"{DOMAIN}\",\"not_after\":")),
        "{}",
        gateway.status_json()
    );

    // curl verifies the Pebble-issued certificate on the terminating route
    // and reaches the plaintext backend.
    let root = write_root(&pebble, tmp.path())?;
    let (body, verify, served, names) = curl_async(port, &root).await?;
    assert_eq!(verify, "0");
    assert_eq!(served, serial);
    assert_eq!(names, vec![DOMAIN.to_owned()]);
    assert_eq!(body, "backend saw [GET / HTTP/1.1] eof=false\n");

    // A client's close_notify reaches the backend as end of stream, and the
    // backend's close reaches the client.
    let mut tls_config = client_config(&std::fs::read(&root)?)?;
    tls_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut tls =
        tokio::time::timeout(IO_BOUND, connector.connect(DOMAIN.try_into()?, tcp)).await??;
    // A client offering h2 first gets http/1.1: by default the route
    // offers only what any HTTP backend speaks.
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    tls.write_all(b"PING").await?;
    tls.shutdown().await?;
    let mut answer = String::new();
    tokio::time::timeout(IO_BOUND, tls.read_to_string(&mut answer)).await??;
    assert!(
        answer.ends_with("backend saw [PING] eof=true\n"),
        "{answer}"
    );

    // A handshake for a name without a certificate is closed and counted.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let refused =
        tokio::time::timeout(IO_BOUND, connector.connect(UNCERTIFIED.try_into()?, tcp)).await?;
    assert!(refused.is_err());
    wait_for("the handshake refusal to be counted", || {
        gateway
            .metrics()
            .render()
            .contains("reason=\"tls_handshake\"}")
    })
    .await?;

    // The tunnel link serves the same certificate over QUIC.
    let link = gateway.tunnel_addr().context("tunnel address")?;
    let endpoint = client_endpoint(
        "127.0.0.1:0".parse()?,
        &Trust::CaFile(root.clone()),
        &LinkSettings::default(),
    )?;
    let conn = tokio::time::timeout(IO_BOUND, endpoint.connect(link, DOMAIN)?).await??;
    let peer = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
        .context("peer certificates")?;
    let leaf = peer.first().context("leaf")?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())?;
    assert_eq!(cert.tbs_certificate.raw_serial_as_string(), serial);
    conn.close(0u32.into(), b"");
    gateway.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_is_served_and_pebble_gone_keeps_the_certificate() -> Result<()> {
    let port = free_port();
    let mut pebble = Pebble::start(port);
    let backend = backend().await?;
    let tmp = tempfile::tempdir()?;
    let storage = tmp.path().join("acme");
    let first = gateway_with_cert(config(port, backend, &pebble, &storage, None)?, &pebble).await?;
    let old = first
        .acme()
        .context("acme")?
        .current(DOMAIN)
        .context("cert")?;
    first.shutdown().await;
    drop(first);
    let root = write_root(&pebble, tmp.path())?;

    // Due at once: the gateway renews on its own, through its listener,
    // and new handshakes see the new serial.
    let cfg = config(port, backend, &pebble, &storage, Some(LONG_WINDOW))?;
    let second = Gateway::start_with(cfg, Vec::new(), settings()).await?;
    let acme = second.acme().context("acme")?.clone();
    wait_for("the renewal", || acme.counters().certificates_issued >= 1).await?;
    let new = acme.current(DOMAIN).context("renewed")?.serial;
    assert_ne!(new, old.serial);
    let (_, verify, served, _) = curl_async(port, &root).await?;
    assert_eq!((verify.as_str(), served.as_str()), ("0", new.as_str()));
    second.shutdown().await;
    drop(second);

    // Pebble gone: the next gateway retries with back-off and serves the
    // stored certificate meanwhile.
    pebble.stop();
    let cfg = config(port, backend, &pebble, &storage, Some(LONG_WINDOW))?;
    let third = Gateway::start_with(cfg, Vec::new(), settings()).await?;
    let acme = third.acme().context("acme")?.clone();
    wait_for("retries", || acme.counters().failed_rounds >= 3).await?;
    assert!(
        third
            .metrics()
            .render()
            .contains("portico_acme_renewals_total 0\n")
    );
    let rendered = third.metrics().render();
    let failures: u64 = rendered
        .lines()
        .find_map(|l| l.strip_prefix("portico_acme_failures_total "))
        .context("failures counter")?
        .parse()?;
    assert!(failures >= 3, "{rendered}");
    let (body, verify, served, _) = curl_async(port, &root).await?;
    assert_eq!((verify.as_str(), served.as_str()), ("0", new.as_str()));
    assert!(body.starts_with("backend saw [GET / HTTP/1.1]"), "{body}");
    third.shutdown().await;
    Ok(())
}
