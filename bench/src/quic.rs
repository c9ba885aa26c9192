//! QUIC bulk, the transport of HTTP/3: `quic-sink` is a QUIC server (ALPN
//! `h3`, a self-signed certificate for its name) that streams bytes on
//! every bidirectional stream a client opens; `quic-bulk` connects (to the
//! sink directly, or through a proxy that routes QUIC by SNI), opens N
//! streams and counts the bytes received per second. The client trusts any
//! certificate: the measurement is of the path, not of the PKI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;

/// Bytes written per write by the sink.
const CHUNK: usize = 64 * 1024;
/// Most streams accepted on the command line.
const MAX_STREAMS: usize = 256;
/// Bound on the handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `quic-sink`.
#[derive(Debug, Args)]
pub struct QuicSinkArgs {
    /// Where to listen (UDP).
    #[arg(long)]
    pub listen: SocketAddr,
    /// The name its certificate is for (the SNI clients send).
    #[arg(long, default_value = "a.test")]
    pub name: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Serves until killed.
pub async fn sink(args: QuicSinkArgs) -> anyhow::Result<()> {
    let key = rcgen::KeyPair::generate().context("key")?;
    let cert = rcgen::CertificateParams::new(vec![args.name.clone()])
        .context("certificate parameters")?
        .self_signed(&key)
        .context("certificate")?;
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("server certificate")?;
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = QuicServerConfig::try_from(tls).context("QUIC server config")?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let endpoint = quinn::Endpoint::server(config, args.listen).context("bind the QUIC sink")?;
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            while let Ok((mut send, _recv)) = conn.accept_bi().await {
                tokio::spawn(async move {
                    let chunk = vec![0x42u8; CHUNK];
                    while send.write_all(&chunk).await.is_ok() {}
                });
            }
        });
    }
    Ok(())
}

/// `quic-bulk`.
#[derive(Debug, Args)]
pub struct QuicBulkArgs {
    /// The sink, or the proxy in front of it.
    #[arg(long)]
    pub target: SocketAddr,
    /// The name to ask for (SNI).
    #[arg(long, default_value = "a.test")]
    pub name: String,
    /// Name of the contender, copied into the JSON line.
    #[arg(long, default_value = "unnamed")]
    pub label: String,
    /// Parallel streams on the one connection.
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
}

/// The JSON line of `quic-bulk`.
#[derive(Debug, Serialize)]
pub struct QuicBulkResult {
    test: &'static str,
    label: String,
    streams: usize,
    bytes: u64,
    seconds: f64,
    bytes_per_sec: f64,
}

/// Accepts any server certificate (the bench measures the path).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Runs the measurement.
pub async fn bulk(args: QuicBulkArgs) -> anyhow::Result<QuicBulkResult> {
    if !(1..=MAX_STREAMS).contains(&args.streams) {
        anyhow::bail!("--streams must be 1..={MAX_STREAMS}");
    }
    let duration = crate::seconds(args.duration)?;
    let provider = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = QuicClientConfig::try_from(tls).context("QUIC client config")?;
    let local: SocketAddr = if args.target.is_ipv4() {
        "127.0.0.1:0".parse()?
    } else {
        "[::1]:0".parse()?
    };
    let mut endpoint = quinn::Endpoint::client(local).context("client endpoint")?;
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect(args.target, &args.name)?)
        .await
        .context("the QUIC handshake timed out")?
        .context("the QUIC handshake failed")?;
    let received = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + duration);
    let mut tasks = Vec::new();
    for _ in 0..args.streams {
        let (mut send, mut recv) = conn.open_bi().await.context("open a stream")?;
        // The stream reaches the sink with its first bytes.
        send.write_all(b"go").await.context("start the stream")?;
        let received = Arc::clone(&received);
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(Ok(Some(n))) = tokio::time::timeout_at(deadline, recv.read(&mut buf)).await
            {
                received.fetch_add(n as u64, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = start.elapsed().as_secs_f64();
    conn.close(0u32.into(), b"done");
    let bytes = received.load(Ordering::Relaxed);
    Ok(QuicBulkResult {
        test: "quic-bulk",
        label: args.label,
        streams: args.streams,
        bytes,
        seconds,
        bytes_per_sec: bytes as f64 / seconds,
    })
}
