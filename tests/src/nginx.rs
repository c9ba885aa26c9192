//! nginx as an HTTP / HTTPS backend: one process (`master_process off`)
//! with a generated configuration, answering every request with a line that
//! names the server and what it saw, and logging the same to an access log.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use crate::WAIT;
use crate::certs::TestCa;
use crate::net::eventually;
use crate::netns::Netns;
use crate::process::Peer;
use crate::tools::require;

/// What each nginx answer and access-log line carries.
const FIELDS: &str = "remote=$remote_addr pp=$proxy_protocol_addr:$proxy_protocol_port \
host=$host sni=$ssl_server_name alpn=$ssl_alpn_protocol proto=$server_protocol";

/// One nginx `server` block.
#[derive(Debug, Clone)]
pub struct NginxServer {
    /// Name in answers (`backend=<label>`) and log lines (`label=<label>`).
    pub label: String,
    /// Addresses it listens on.
    pub listen: Vec<SocketAddr>,
    /// Serve TLS with the CA's leaf for this name.
    pub tls_name: Option<String>,
    /// Also offer HTTP/2 (with TLS: ALPN `h2`).
    pub http2: bool,
    /// Require a PROXY v1/v2 header on every connection.
    pub proxy_protocol: bool,
    /// Serve the files of this directory under `/files/`.
    pub files: Option<PathBuf>,
}

impl NginxServer {
    /// Plain HTTP on `addr`.
    pub fn http(label: &str, addr: SocketAddr) -> NginxServer {
        NginxServer {
            label: label.to_owned(),
            listen: vec![addr],
            tls_name: None,
            http2: false,
            proxy_protocol: false,
            files: None,
        }
    }

    /// HTTPS with the leaf for `name`, HTTP/2 and HTTP/1.1 offered.
    pub fn https(label: &str, addr: SocketAddr, name: &str) -> NginxServer {
        NginxServer {
            tls_name: Some(name.to_owned()),
            http2: true,
            ..Self::http(label, addr)
        }
    }

    /// Requires a PROXY header.
    pub fn with_proxy_protocol(mut self) -> NginxServer {
        self.proxy_protocol = true;
        self
    }

    /// Serves the files of `dir` under `/files/`.
    pub fn with_files(mut self, dir: &std::path::Path) -> NginxServer {
        self.files = Some(dir.to_owned());
        self
    }

    /// Adds a listening address.
    pub fn also_on(mut self, addr: SocketAddr) -> NginxServer {
        self.listen.push(addr);
        self
    }
}

/// A running nginx; killed on drop.
#[derive(Debug)]
pub struct Nginx {
    peer: Peer,
    dir: TempDir,
}

impl Nginx {
    /// Writes the configuration for `servers` (certificates from `ca`) and
    /// starts nginx, waiting until every port listens.
    pub fn start(servers: &[NginxServer], ca: Option<&TestCa>) -> Nginx {
        Self::launch(servers, ca, None)
    }

    /// [`Nginx::start`] inside the network namespace `netns`.
    pub fn start_in(netns: &Netns, servers: &[NginxServer], ca: Option<&TestCa>) -> Nginx {
        Self::launch(servers, ca, Some(netns))
    }

    fn launch(servers: &[NginxServer], ca: Option<&TestCa>, netns: Option<&Netns>) -> Nginx {
        let nginx = require("nginx", "nginx");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp dir");
        let mut conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n\
             client_body_temp_path {d}/tmp/body;\nproxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fastcgi;\nuwsgi_temp_path {d}/tmp/uwsgi;\nscgi_temp_path {d}/tmp/scgi;\n\
             default_type text/plain;\n\
             log_format e2e 'label=$backend_label {FIELDS} rport=$remote_port \"$request\" $status';\n\
             access_log {d}/access.log e2e;\n"
        );
        for server in servers {
            conf.push_str("server {\n");
            for addr in &server.listen {
                let mut line = format!("  listen {addr}");
                if server.tls_name.is_some() {
                    line.push_str(" ssl");
                }
                if server.http2 {
                    line.push_str(" http2");
                }
                if server.proxy_protocol {
                    line.push_str(" proxy_protocol");
                }
                let _ = writeln!(conf, "{line};");
            }
            if let Some(name) = &server.tls_name {
                let ca = ca.expect("a TLS server needs the TestCa");
                let _ = writeln!(
                    conf,
                    "  ssl_certificate {};\n  ssl_certificate_key {};",
                    ca.cert(name).display(),
                    ca.key(name).display()
                );
            }
            if let Some(files) = &server.files {
                let _ = writeln!(conf, "  location /files/ {{ alias {}/; }}", files.display());
            }
            let label = &server.label;
            let _ = writeln!(
                conf,
                "  set $backend_label \"{label}\";\n  location / {{ return 200 \"backend={label} {FIELDS}\\n\"; }}\n}}"
            );
        }
        conf.push_str("}\n");
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let mut cmd = match netns {
            Some(ns) => ns.command(nginx),
            None => Command::new(nginx),
        };
        let mut peer = Peer::spawn(
            "nginx",
            cmd.arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                .args(["-e", "stderr"]),
            &dir.path().join("stderr.log"),
        );
        let ports: Vec<u16> = servers
            .iter()
            .flat_map(|s| s.listen.iter().map(SocketAddr::port))
            .collect();
        if netns.is_some() {
            peer.wait_listening_own_ns(&ports);
        } else {
            peer.wait_listening(&ports);
        }
        Nginx { peer, dir }
    }

    /// The access log so far (one line per request).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.path("access.log")).unwrap_or_default()
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.path("error.log")).unwrap_or_default()
    }

    /// Waits up to [`WAIT`] for an access-log line containing every needle;
    /// returns it.
    pub fn wait_access(&self, needles: &[&str]) -> String {
        let mut found = String::new();
        let ok = eventually(|| {
            let log = self.access_log();
            match log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                Some(line) => {
                    found = line.to_owned();
                    true
                }
                None => false,
            }
        });
        assert!(
            ok,
            "no nginx access-log line with {needles:?} within {WAIT:?}; log:\n{}\nerror log:\n{}",
            self.access_log(),
            self.error_log()
        );
        found
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.peer.is_running()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
