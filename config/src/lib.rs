//! Configuration of portico-gateway and portico-tunnel: the TOML schema,
//! parsed with serde into types that cannot be invalid, validated as a
//! whole, with every error reported against the file, line and column it
//! comes from.
//!
//! [`load_gateway`] and [`load_tunnel`] are the entry points ([`parse_gateway`]
//! when the text is already in memory); [`model`] holds
//! the validated types they return. [`load_gateway_checked`] also returns
//! the warnings: settings that are valid but likely wrong (and
//! [`load_tunnel_checked`] for the tunnel client).
//!
//! Inside: `raw` mirrors the TOML with spans, `validate_gateway`,
//! `gateway_sections`, `validate_tls` and `validate_tunnel` turn it into
//! [`model`] types using the single-value checks of `fields`, `addr`,
//! `duration` and `token`, and `certificate` for PEM files; [`Diagnostics`] prints each error with the line it is about.
//! Relative paths in a file (`token_file`, `ca`, `cert`, ...) are taken from
//! the directory of that file.

pub mod model;

mod addr;
mod certificate;
mod diagnostics;
mod duration;
mod fields;
mod gateway_sections;
mod host_pattern;
mod raw;
mod secret;
mod token;
mod validate_access;
mod validate_gateway;
mod validate_tls;
mod validate_tunnel;
mod validate_udp;

pub use diagnostics::{Checked, Diagnostic, Diagnostics, Severity};
pub use host_pattern::{HostPattern, HostPatternError, Specificity};
pub use model::{GatewayConfig, TunnelConfig};
pub use secret::Secret;

use std::path::Path;

use diagnostics::Reporter;

/// Largest configuration file read, in bytes.
pub(crate) const MAX_CONFIG_LEN: u64 = 4 * 1024 * 1024;

/// Reads, parses and validates a gateway configuration file.
pub fn load_gateway(path: &Path) -> Result<GatewayConfig, Diagnostics> {
    load_gateway_checked(path).map(|checked| checked.config)
}

/// [`load_gateway`], with the warnings.
pub fn load_gateway_checked(path: &Path) -> Result<Checked<GatewayConfig>, Diagnostics> {
    let source = read_config(path)?;
    parse_gateway_checked(&source, path)
}

/// Reads, parses and validates a tunnel-client configuration file.
pub fn load_tunnel(path: &Path) -> Result<TunnelConfig, Diagnostics> {
    load_tunnel_checked(path).map(|checked| checked.config)
}

/// [`load_tunnel`], with the warnings.
pub fn load_tunnel_checked(path: &Path) -> Result<Checked<TunnelConfig>, Diagnostics> {
    let source = read_config(path)?;
    let mut rep = Reporter::new(path, &source);
    let config = validate_tunnel::parse(&mut rep, &source, &base_dir(path));
    rep.finish(config)
}

/// Parses and validates gateway TOML that was read from `path` (used in
/// messages and to resolve relative paths).
pub fn parse_gateway(source: &str, path: &Path) -> Result<GatewayConfig, Diagnostics> {
    parse_gateway_checked(source, path).map(|checked| checked.config)
}

/// [`parse_gateway`], with the warnings.
pub fn parse_gateway_checked(
    source: &str,
    path: &Path,
) -> Result<Checked<GatewayConfig>, Diagnostics> {
    let mut rep = Reporter::new(path, source);
    let config = validate_gateway::parse(&mut rep, source, &base_dir(path));
    rep.finish(config)
}

/// The directory relative paths in `path` are taken from.
fn base_dir(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// The file's text, or one diagnostic (line 0) saying why it cannot be had.
fn read_config(path: &Path) -> Result<String, Diagnostics> {
    use std::io::Read;
    let fail = |m: String| Diagnostics(vec![Diagnostic::whole_file(path, m)]);
    let file = std::fs::File::open(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_LEN.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_CONFIG_LEN {
        return Err(fail(format!(
            "{} is larger than {MAX_CONFIG_LEN} bytes; not a configuration file",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|e| fail(format!("{} is not UTF-8: {e}", path.display())))
}
