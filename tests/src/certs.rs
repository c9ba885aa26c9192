//! A throw-away test CA and leaf certificates made with `openssl`
//! (CA:TRUE root, CA:FALSE leaves: what rustls and webpki accept).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::run_bounded;
use crate::tools::require;

/// A CA and one leaf per name, as PEM files in a directory.
#[derive(Debug, Clone)]
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// Creates `dir/ca.pem` and, per name, `dir/<name>.pem` and
    /// `dir/<name>.key` (SAN: the name, localhost, 127.0.0.1, ::1).
    pub fn create(dir: &Path, names: &[&str]) -> TestCa {
        Self::create_with_ips(dir, names, &[])
    }

    /// [`TestCa::create`] with `ips` as extra IP SANs of every leaf (for a
    /// peer reached by address, e.g. the gateway of a tunnel client).
    pub fn create_with_ips(dir: &Path, names: &[&str], ips: &[std::net::IpAddr]) -> TestCa {
        let extra: String = ips.iter().map(|ip| format!(",IP:{ip}")).collect();
        let openssl = require("openssl", "openssl");
        std::fs::create_dir_all(dir).expect("cert dir");
        let ca_key = dir.join("ca.key");
        let ca_pem = dir.join("ca.pem");
        let ok = |cmd: &mut Command, what: &str| {
            let out = run_bounded(cmd.current_dir(dir));
            assert!(out.status.success(), "openssl {what}: {}", out.all());
        };
        ok(
            Command::new(&openssl).args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "30",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=portico test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]),
            "CA",
        );
        for name in names {
            let ext = dir.join(format!("{name}.ext"));
            std::fs::write(
                &ext,
                format!(
                    "subjectAltName=DNS:{name},DNS:localhost,IP:127.0.0.1,IP:::1{extra}\n\
                     basicConstraints=critical,CA:FALSE\n\
                     keyUsage=critical,digitalSignature\n\
                     extendedKeyUsage=serverAuth,clientAuth\n"
                ),
            )
            .expect("ext file");
            let csr = format!("{name}.csr");
            ok(
                Command::new(&openssl)
                    .args([
                        "req",
                        "-new",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                    ])
                    .args(["-nodes", "-keyout", &format!("{name}.key"), "-out", &csr])
                    .args(["-subj", &format!("/CN={name}")]),
                "leaf request",
            );
            ok(
                Command::new(&openssl)
                    .args(["x509", "-req", "-in", &csr, "-days", "30"])
                    .arg("-CA")
                    .arg(&ca_pem)
                    .arg("-CAkey")
                    .arg(&ca_key)
                    .args(["-CAcreateserial", "-extfile"])
                    .arg(&ext)
                    .args(["-out", &format!("{name}.pem")]),
                "leaf signing",
            );
        }
        TestCa {
            dir: dir.to_owned(),
        }
    }

    /// The CA certificate to trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The leaf certificate of `name`.
    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// The private key of `name`.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
}
