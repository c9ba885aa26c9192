//! Operator certificates on `terminate_tls` routes and TLS again to the
//! backend, with real clients: two `[[certificate]]` pairs made with
//! `openssl req -x509` as guides do, chosen by SNI for curl (defaults and
//! `--http1.1`); a SIGHUP after the files are replaced serves the new
//! certificate to new handshakes while a connection opened before keeps
//! working; `check` refuses a mismatched key, an expired certificate and
//! garbage PEM with file and reason; `backend_tls` to an nginx serving TLS
//! with a certificate from a test CA is verified with `backend_ca`, and
//! refused (502) without it.
//!
//! Needs openssl, curl, nginx and the built binaries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use portico_tests::certs::TestCa;
use portico_tests::clients::curl_via;
use portico_tests::config::{listener, route};
use portico_tests::gateway::{self, Gateway};
use portico_tests::net::{free_port, v4};
use portico_tests::nginx::{Nginx, NginxServer};
use portico_tests::process::run_bounded;
use portico_tests::tools::require;
use rustls::pki_types::pem::PemObject as _;

/// Bound on a read from the pre-opened TLS connection.
const READ_BOUND: Duration = Duration::from_secs(10);

/// `openssl req -x509` as a guide has it: a self-signed P-256 certificate
/// for `name`, in `dir/<stem>.pem` and `dir/<stem>.key`.
fn openssl_self_signed(dir: &Path, stem: &str, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    let out = run_bounded(
        Command::new(require("openssl", "openssl"))
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args([
                "-days",
                "90",
                "-subj",
                &format!("/CN={name}"),
                "-addext",
                &format!("subjectAltName=DNS:{name}"),
                // CA:FALSE, so the in-test rustls client takes it as a leaf.
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ]),
    );
    assert!(out.status.success(), "openssl req: {}", out.all());
    (cert, key)
}

/// A `[[certificate]]` table.
fn certificate(cert: &Path, key: &Path) -> String {
    format!(
        "[[certificate]]\ncert = \"{}\"\nkey = \"{}\"\n\n",
        cert.display(),
        key.display()
    )
}

/// The gateway terminating TLS for `a.test` and `b.test` with one
/// `openssl req -x509` certificate each, to an HTTP/1.1 nginx.
struct Scene {
    gw: SocketAddr,
    nginx: Nginx,
    gateway: Gateway,
    toml: String,
    dir: tempfile::TempDir,
}

impl Scene {
    fn start() -> Scene {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a_cert, a_key) = openssl_self_signed(dir.path(), "a", "a.test");
        let (b_cert, b_key) = openssl_self_signed(dir.path(), "b", "b.test");
        let backend = v4(free_port());
        let nginx = Nginx::start(&[NginxServer::http("web", backend)], None);
        let gw = v4(free_port());
        let toml = [
            listener(gw, &[]),
            route(&["a.test", "b.test"], backend, &["terminate_tls = true"]),
            certificate(&a_cert, &a_key),
            certificate(&b_cert, &b_key),
        ]
        .concat();
        let gateway = Gateway::start(&toml);
        Scene {
            gw,
            nginx,
            gateway,
            toml,
            dir,
        }
    }

    /// curl to `https://name/` trusting only `ca`, with `extra` flags.
    fn curl(&self, name: &str, ca: &Path, extra: &[&str]) -> portico_tests::process::Output {
        let ca = ca.display().to_string();
        let mut args = vec!["--cacert", ca.as_str()];
        args.extend_from_slice(extra);
        curl_via(
            self.gw,
            &format!("https://{name}:{}/", self.gw.port()),
            name,
            &args,
        )
    }
}

#[test]
fn curl_gets_the_certificate_its_sni_names() {
    let scene = Scene::start();
    let a = scene.dir.path().join("a.pem");
    let b = scene.dir.path().join("b.pem");
    for extra in [&[][..], &["--http1.1"][..]] {
        for (name, cert) in [("a.test", &a), ("b.test", &b)] {
            let out = scene.curl(name, cert, extra);
            assert!(
                out.stdout.contains("backend=web") && out.stdout.contains("status=200 http=1.1"),
                "{name} {extra:?}: {}\ngateway log:\n{}",
                out.all(),
                scene.gateway.log()
            );
        }
        // Each name gets its own certificate: the other one does not verify.
        let crossed = scene.curl("a.test", &b, extra);
        assert!(!crossed.status.success(), "{}", crossed.all());
    }
    scene
        .nginx
        .wait_access(&["label=web", "\"GET / HTTP/1.1\" 200"]);
}

/// A TLS connection opened to `name` at `gw`, trusting only `ca`, that
/// sends keep-alive HTTP/1.1 requests.
struct OpenConnection {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl OpenConnection {
    fn open(gw: SocketAddr, name: &str, ca: &Path) -> OpenConnection {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca).expect("read ca");
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.expect("pem")).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), server_name).expect("conn");
        let tcp = TcpStream::connect(gw).expect("connect");
        tcp.set_read_timeout(Some(READ_BOUND)).expect("timeout");
        OpenConnection {
            tls: rustls::StreamOwned::new(conn, tcp),
        }
    }

    /// One request; its answer (head and body, by Content-Length).
    fn get(&mut self, name: &str, path: &str) -> String {
        write!(
            self.tls,
            "GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: keep-alive\r\n\r\n"
        )
        .expect("write request");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert!(head.len() < 16 * 1024, "head too long");
            match self.tls.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                other => panic!(
                    "answer cut short ({other:?}): {}",
                    String::from_utf8_lossy(&head)
                ),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().expect("length"))
            })
            .expect("content-length");
        assert!(length < 64 * 1024, "body too long");
        let mut body = vec![0u8; length];
        self.tls.read_exact(&mut body).expect("body");
        format!("{head}{}", String::from_utf8_lossy(&body))
    }
}

#[test]
fn sighup_serves_replaced_files_to_new_handshakes_and_keeps_open_connections() {
    let scene = Scene::start();
    let dir = scene.dir.path();
    let old_a = dir.join("a-old.pem");
    std::fs::copy(dir.join("a.pem"), &old_a).expect("keep the old certificate");
    let mut open = OpenConnection::open(scene.gw, "a.test", &old_a);
    let first = open.get("a.test", "/before");
    assert!(first.contains("200 OK"), "{first}");

    // The operator renews: new files in place, then SIGHUP.
    openssl_self_signed(dir, "a", "a.test");
    scene.gateway.reload(&scene.toml);
    assert!(
        scene.gateway.wait_log("configuration reloaded"),
        "{}",
        scene.gateway.log()
    );
    let new_a = dir.join("a.pem");
    let fresh = scene.curl("a.test", &new_a, &[]);
    assert!(
        fresh.stdout.contains("status=200"),
        "new handshake, new certificate: {}\n{}",
        fresh.all(),
        scene.gateway.log()
    );
    let stale = scene.curl("a.test", &old_a, &[]);
    assert!(
        !stale.status.success(),
        "new handshakes no longer get the old certificate: {}",
        stale.all()
    );
    // The connection opened before the reload goes on.
    let second = open.get("a.test", "/after");
    assert!(second.contains("200 OK"), "{second}");
    scene.nginx.wait_access(&["\"GET /after HTTP/1.1\" 200"]);
}

/// The static fixtures of the configuration tests: an expired pair.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/tests/invalid/certs")
        .join(name)
}

#[test]
fn check_refuses_bad_files_with_file_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _) = openssl_self_signed(dir.path(), "a", "a.test");
    let (_, other_key) = openssl_self_signed(dir.path(), "b", "b.test");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").expect("write");
    let gw = v4(free_port());
    let cases = [
        (
            certificate(&cert, &other_key),
            format!(
                "key file {} does not match the certificate",
                other_key.display()
            ),
        ),
        (
            certificate(&fixture("expired.pem"), &fixture("expired.key")),
            "expired on".to_owned(),
        ),
        (
            certificate(&garbage, &other_key),
            format!("{} holds no PEM certificate", garbage.display()),
        ),
    ];
    for (i, (section, reason)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("gateway-{i}.toml"));
        std::fs::write(&path, [listener(gw, &[]), section.clone()].concat()).expect("write");
        let out = gateway::check(&path);
        assert_eq!(out.status.code(), Some(1), "{}", out.all());
        assert!(
            out.stderr.contains(reason),
            "want {reason:?}:\n{}",
            out.all()
        );
        // Pointed at the setting in the file, as every configuration error.
        assert!(
            out.stderr.contains(&format!("{}:", path.display())),
            "{}",
            out.all()
        );
    }
}

#[test]
fn backend_tls_verifies_nginx_with_backend_ca_and_refuses_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::create(&dir.path().join("ca"), &["backend.test"]);
    let backend = v4(free_port());
    let nginx = Nginx::start(
        &[NginxServer::https("inner", backend, "backend.test")],
        Some(&ca),
    );
    let (front_cert, front_key) = openssl_self_signed(dir.path(), "front", "app.test");
    let (other_cert, other_key) = openssl_self_signed(dir.path(), "other", "other.test");
    let gw = v4(free_port());
    let ca_line = format!("backend_ca = \"{}\"", ca.ca().display());
    let toml = [
        listener(gw, &[]),
        route(
            &["app.test"],
            backend,
            &[
                "terminate_tls = true",
                "backend_tls = true",
                "backend_name = \"backend.test\"",
                &ca_line,
            ],
        ),
        // The system's roots do not know the test CA: refused.
        route(
            &["other.test"],
            backend,
            &[
                "terminate_tls = true",
                "backend_tls = true",
                "backend_name = \"backend.test\"",
            ],
        ),
        certificate(&front_cert, &front_key),
        certificate(&other_cert, &other_key),
    ]
    .concat();
    let gateway = Gateway::start(&toml);
    for extra in [&[][..], &["--http1.1"][..]] {
        let out = curl_via(
            gw,
            &format!("https://app.test:{}/inner", gw.port()),
            "app.test",
            &[&["--cacert", &front_cert.display().to_string()][..], extra].concat(),
        );
        assert!(
            out.stdout.contains("backend=inner") && out.stdout.contains("status=200"),
            "{}\ngateway log:\n{}\nnginx:\n{}",
            out.all(),
            gateway.log(),
            nginx.error_log()
        );
        // nginx saw TLS from the gateway, with the name it verified.
        assert!(out.stdout.contains("sni=backend.test"), "{}", out.all());
    }
    let refused = curl_via(
        gw,
        &format!("https://other.test:{}/", gw.port()),
        "other.test",
        &["--cacert", &other_cert.display().to_string()],
    );
    assert!(
        refused.stdout.contains("status=502"),
        "{}\ngateway log:\n{}",
        refused.all(),
        gateway.log()
    );
    assert!(
        gateway.wait_log_line(&["backend TLS handshake failed", "other.test"]),
        "{}",
        gateway.log()
    );
}
