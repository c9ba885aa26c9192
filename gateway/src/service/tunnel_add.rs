//! `portico-gateway tunnel add NAME --config FILE`: a new tunnel client in
//! one step. Writes a random token file (mode 0600) beside the gateway's
//! file and returns the `[[tunnel]]` stanza to add and the whole tunnel
//! client file, which pins the gateway's link certificate by its
//! fingerprint (making the self-signed one in `[tunnels] storage` first
//! when `[tunnels]` names no `cert`/`key`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use portico_config::Diagnostics;
use portico_config::model::LinkCert;
use portico_link::{Fingerprint, load_cert_chain};

use crate::tunnel::identity::{self, IdentityError};

/// Random bytes in a new token (64 hex digits in the file).
pub const TOKEN_BYTES: usize = 32;
/// Longest tunnel name (as the configuration allows).
const MAX_NAME_LEN: usize = 64;

/// What `tunnel add` may be told besides the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelAddOptions {
    /// The `gateway = "host:port"` the client dials; default: the
    /// `[tunnels]` bind address, or this host's name with its port when
    /// the bind address is unspecified (`[::]`, `0.0.0.0`).
    pub gateway: Option<String>,
    /// Where the tunnel client delivers connections (`[[service]] to`).
    pub to: SocketAddr,
}

/// What `tunnel add` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelAdd {
    /// The new token file (mode 0600), beside the gateway's file.
    pub token_file: PathBuf,
    /// The `[[tunnel]]` stanza to add to the gateway's file.
    pub stanza: String,
    /// The whole tunnel client file.
    pub client_file: String,
}

/// Why `tunnel add` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum TunnelAddError {
    /// The gateway's file is not valid.
    #[error("the configuration is not valid:\n{0}")]
    Config(Diagnostics),
    /// The file has no `[tunnels]` section.
    #[error(
        "the configuration has no [tunnels] section; add one first, e.g.\n[tunnels]\nbind = \"[::]:7443\""
    )]
    NoTunnels,
    /// The name is not a valid tunnel name.
    #[error("invalid name `{0}`: use 1 to 64 letters, digits, `-` or `_`")]
    BadName(String),
    /// A `[[tunnel]]` of that name exists.
    #[error("a [[tunnel]] named `{0}` already exists")]
    Exists(String),
    /// The token file could not be written (it may already exist).
    #[error("cannot create the token file {}: {source}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// No random bytes for the token.
    #[error("no random bytes for the token")]
    Random,
    /// The generated link certificate could not be had.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The `[tunnels] cert` file could not be read.
    #[error("[tunnels] cert: {0}")]
    Cert(#[from] portico_link::EndpointError),
}

/// Adds tunnel client `name` for the gateway file at `config_path`: see
/// the module documentation. Nothing is written when an error is returned
/// before the token file.
pub fn tunnel_add(
    config_path: &Path,
    name: &str,
    options: &TunnelAddOptions,
) -> Result<TunnelAdd, TunnelAddError> {
    let config = portico_config::load_gateway(config_path).map_err(TunnelAddError::Config)?;
    let tunnels = config.tunnels.as_ref().ok_or(TunnelAddError::NoTunnels)?;
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(TunnelAddError::BadName(name.to_owned()));
    }
    if config.tunnel.iter().any(|t| t.name == name) {
        return Err(TunnelAddError::Exists(name.to_owned()));
    }
    // The pin first: a failure here leaves no token file behind.
    let trust = match &tunnels.cert {
        LinkCert::Generated { storage } => {
            let link = identity::load_or_create(storage)?;
            format!(
                "gateway_fingerprint = \"{}\"   # the gateway's self-signed link certificate\n",
                link.fingerprint
            )
        }
        LinkCert::Files { cert, .. } => {
            let chain = load_cert_chain(cert)?;
            let leaf = chain.first().map(Fingerprint::of);
            match leaf {
                Some(pin) => format!(
                    "gateway_fingerprint = \"{pin}\"   # {}; update when it changes, or use ca = ...\n",
                    cert.display()
                ),
                None => String::new(),
            }
        }
        LinkCert::Acme => {
            "# the gateway's [acme] certificate is verified with the system's trusted roots\n"
                .to_owned()
        }
    };
    let token_name = format!("{name}.token");
    let dir = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let token_file = dir.join(&token_name);
    write_token(&token_file)?;
    let gateway = options
        .gateway
        .clone()
        .unwrap_or_else(|| default_gateway(tunnels.bind));
    let mut stanza = String::new();
    let _ = write!(
        stanza,
        "[[tunnel]]\nname = \"{name}\"\ntoken_file = \"{token_name}\"\n\n\
         # and a route to it, e.g.:\n# [[route]]\n# hosts = [\"nas.example.org\"]\n# tunnel = \"{name}\"\n"
    );
    let mut client_file = String::new();
    let _ = write!(
        client_file,
        "# portico-tunnel configuration for the tunnel \"{name}\".\n\
         # Copy {token_name} beside this file (chmod 600); relative paths are taken\n\
         # from this file's directory. Check it with: portico-tunnel check --config FILE\n\
         gateway = \"{gateway}\"\n\
         name = \"{name}\"\n\
         token_file = \"{token_name}\"\n\
         {trust}\n\
         [[service]]\n\
         hosts = [\"*\"]                     # every name routed to this tunnel\n\
         to = \"{}\"             # the local service\n",
        options.to
    );
    Ok(TunnelAdd {
        token_file,
        stanza,
        client_file,
    })
}

/// Writes a new random token to `path`, mode 0600; an existing file is
/// left alone (an error).
fn write_token(path: &Path) -> Result<(), TunnelAddError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| TunnelAddError::Random)?;
    let mut text = String::with_capacity(TOKEN_BYTES * 2 + 1);
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    text.push('\n');
    let fail = |source| TunnelAddError::Token {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// `host:port` for the client: the bind address when it is a specific
/// one, else this host's name.
fn default_gateway(bind: SocketAddr) -> String {
    let port = bind.port();
    match bind.ip() {
        ip if !ip.is_unspecified() => match ip {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        },
        _ => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "gw.example.org".to_owned());
            format!("{host}:{port}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn gateway_file(dir: &Path, extra: &str) -> anyhow::Result<PathBuf> {
        let path = dir.join("gateway.toml");
        let text = format!(
            "[[listener]]\nbind = \"127.0.0.1:8443\"\n\n[tunnels]\nbind = \"127.0.0.1:7443\"\nstorage = \"state\"\n{extra}"
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn options() -> TunnelAddOptions {
        TunnelAddOptions {
            gateway: None,
            to: "127.0.0.1:8080".parse().expect("addr"),
        }
    }

    #[test]
    fn writes_a_private_token_and_files_that_load() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = gateway_file(dir.path(), "")?;
        let added = tunnel_add(&path, "home", &options())?;
        assert_eq!(added.token_file, dir.path().join("home.token"));
        let mode = std::fs::metadata(&added.token_file)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let token = std::fs::read_to_string(&added.token_file)?;
        assert_eq!(token.trim_end().len(), TOKEN_BYTES * 2);
        // The gateway's file with the stanza added loads, and knows the client.
        let mut text = std::fs::read_to_string(&path)?;
        text.push('\n');
        text.push_str(&added.stanza);
        std::fs::write(&path, text)?;
        let config = portico_config::load_gateway(&path).map_err(|d| anyhow::anyhow!("{d}"))?;
        assert_eq!(config.tunnel.len(), 1);
        // The client file, beside the token, loads and pins the generated
        // certificate.
        let client = dir.path().join("home.toml");
        std::fs::write(&client, &added.client_file)?;
        let tunnel = portico_config::load_tunnel(&client).map_err(|d| anyhow::anyhow!("{d}"))?;
        assert_eq!(tunnel.gateway, "127.0.0.1:7443");
        assert_eq!(tunnel.token.expose(), config.tunnel[0].token.expose());
        let link = identity::load_or_create(&dir.path().join("state"))?;
        assert_eq!(tunnel.gateway_fingerprint, Some(link.fingerprint.0));
        Ok(())
    }

    #[test]
    fn refuses_a_taken_name_a_bad_name_and_an_existing_token_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = gateway_file(dir.path(), "")?;
        assert!(matches!(
            tunnel_add(&path, "no spaces", &options()),
            Err(TunnelAddError::BadName(_))
        ));
        tunnel_add(&path, "home", &options())?;
        assert!(matches!(
            tunnel_add(&path, "home", &options()),
            Err(TunnelAddError::Token { .. })
        ));
        std::fs::write(
            &path,
            format!(
                "{}\n[[tunnel]]\nname = \"home\"\ntoken_file = \"home.token\"\n",
                std::fs::read_to_string(&path)?
            ),
        )?;
        assert!(matches!(
            tunnel_add(&path, "home", &options()),
            Err(TunnelAddError::Exists(_))
        ));
        Ok(())
    }

    #[test]
    fn needs_a_tunnels_section() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, "[[listener]]\nbind = \"127.0.0.1:8443\"\n")?;
        assert!(matches!(
            tunnel_add(&path, "home", &options()),
            Err(TunnelAddError::NoTunnels)
        ));
        Ok(())
    }
}
