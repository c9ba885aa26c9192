//! Every example configuration loads; every file in `tests/invalid/` fails
//! with the message and line its `# expect:` / `# expect-line:` header names.
//!
//! Both folders are copied to a temporary directory first, with token files
//! set to mode 0600 (git does not keep modes), except `open.token`, which
//! the world-readable check needs readable by others.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use portico_config::model::{Http01Action, LinkCert, RouteMode, SourceMode, Target};
use portico_config::{Diagnostics, HostPattern, load_gateway, load_tunnel};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies `src` (recursively) into `dst`, setting token file modes.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to)?;
            continue;
        }
        std::fs::copy(entry.path(), &to)?;
        if to.extension().is_some_and(|e| e == "token") {
            let mode = if entry.file_name() == "open.token" {
                0o644
            } else {
                0o600
            };
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// The `*.toml` files of `dir`, sorted.
fn tomls(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads `p` with the tunnel-client loader when `tunnel`, else the
/// gateway loader, keeping only the outcome.
fn load(p: &Path, tunnel: bool) -> Result<(), Diagnostics> {
    if tunnel {
        load_tunnel(p).map(|_| ())
    } else {
        load_gateway(p).map(|_| ())
    }
}

#[test]
fn every_example_loads() -> Result<()> {
    let dir = tempfile::tempdir()?;
    copy_tree(&manifest_dir().join("../examples"), dir.path())?;
    let files = tomls(dir.path())?;
    assert!(files.len() >= 4, "examples missing: {files:?}");
    for f in &files {
        // Examples of the tunnel client are named `tunnel*.toml`.
        if let Err(e) = load(f, file_name(f).starts_with("tunnel")) {
            bail!("{} does not load:\n{e}", f.display());
        }
    }
    Ok(())
}

#[test]
fn full_gateway_example_has_the_documented_values() -> Result<()> {
    let dir = tempfile::tempdir()?;
    copy_tree(&manifest_dir().join("../examples"), dir.path())?;
    let g = load_gateway(&dir.path().join("gateway.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(g.listeners.len(), 2);
    assert_eq!(g.listeners[0].bind, "[::]:443".parse()?);
    assert_eq!(
        g.listeners[0].peek_timeout,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(g.listeners[0].idle_timeout, None);
    assert_eq!(g.routes[0].hosts[1].to_string(), "*.example.org");
    assert!(
        matches!(&g.routes[0].target, Target::Backend(b) if b.host == "200:1111:2222::1" && b.port.is_none())
    );
    assert_eq!(g.routes[1].target, Target::Tunnel("home".into()));
    assert!(g.routes[2].terminate_tls);
    assert_eq!(g.routes[2].alpn, ["http/1.1"]);
    assert!(
        matches!(&g.http01.as_ref().map(|h| &h.action), Some(Http01Action::Forward(b)) if b.port == Some(80))
    );
    let acme = g.acme.as_ref().context("acme")?;
    assert_eq!(acme.contact, vec!["mailto:ops@example.org".to_owned()]);
    let tunnels = g.tunnels.as_ref().context("tunnels")?;
    assert_eq!(
        tunnels.cert,
        LinkCert::Files {
            cert: "/etc/portico/link.pem".into(),
            key: "/etc/portico/link.key".into()
        }
    );
    assert_eq!(g.tunnel.len(), 2);
    assert!(
        g.tunnel[0]
            .token
            .expose()
            .starts_with(b"example-home-token")
    );
    assert_eq!(
        g.admin.as_ref().map(|a| a.bind),
        Some("127.0.0.1:9180".parse()?)
    );
    assert_eq!(g.limits.max_connections, 10_000);
    assert_eq!(g.limits.xmpp_head_max, 4096);
    Ok(())
}

#[test]
fn tunnel_example_has_the_documented_values() -> Result<()> {
    let dir = tempfile::tempdir()?;
    copy_tree(&manifest_dir().join("../examples"), dir.path())?;
    let t = load_tunnel(&dir.path().join("tunnel.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(t.gateway, "gw.example.org:7443");
    assert_eq!(t.ca, Some(dir.path().join("link-ca.pem")));
    let tun = t.tun.as_ref().context("tun")?;
    assert_eq!(
        (tun.device.as_str(), tun.table, tun.routes),
        ("portico0", 7777, RouteMode::Policy)
    );
    assert_eq!(t.services[0].source, SourceMode::Original);
    assert_eq!(t.services[1].hosts, vec![HostPattern::Any]);
    let plain =
        load_tunnel(&dir.path().join("tunnel-plain.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(plain.gateway, "[2001:db8::10]:7443");
    assert!(plain.tun.is_none());
    assert_eq!(plain.services[1].source, SourceMode::Tunnel);
    Ok(())
}

/// `# expect:` and `# expect-line:` of an invalid file.
fn expectations(text: &str) -> (Option<String>, Option<usize>) {
    let mut message = None;
    let mut line = None;
    for l in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(m) = l.strip_prefix("# expect: ") {
            message = Some(m.to_owned());
        } else if let Some(n) = l.strip_prefix("# expect-line: ") {
            line = n.trim().parse().ok();
        }
    }
    (message, line)
}

#[test]
fn every_invalid_file_fails_with_its_message_and_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    copy_tree(&manifest_dir().join("tests/invalid"), dir.path())?;
    let files = tomls(dir.path())?;
    assert!(files.len() >= 20, "only {} invalid files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)?;
        let (Some(message), line) = expectations(&text) else {
            failures.push(format!("{}: no `# expect:` line", file_name(f)));
            continue;
        };
        // Invalid tunnel-client files are named `client-*.toml`.
        let Err(diags) = load(f, file_name(f).starts_with("client-")) else {
            failures.push(format!("{}: loaded without error", file_name(f)));
            continue;
        };
        let hit = diags
            .iter()
            .any(|d| d.message.contains(&message) && line.is_none_or(|n| d.line == n));
        if !hit {
            failures.push(format!(
                "{}: want {message:?} at line {line:?}, got:\n{diags}",
                file_name(f)
            ));
        }
        let shown = diags.to_string();
        if !shown.contains(&format!("{}:", f.display())) || !shown.contains('^') {
            failures.push(format!(
                "{}: display lacks file or caret:\n{shown}",
                file_name(f)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn three_distinct_errors_are_all_reported() {
    let src = "\
[[listener]]
bind = \"[::]:443\"
protocols = [\"tls\", \"gopher\"]

[[route]]
hosts = [\"a.*.example.org\"]
backend = \"[200::1]:80\"

[[route]]
hosts = [\"b.example.org\"]
backend = \"200::2\"
";
    let diags = portico_config::parse_gateway(src, Path::new("/etc/portico/gateway.toml"))
        .expect_err("three errors");
    let found: Vec<(usize, usize)> = diags.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(found, vec![(3, 21), (6, 10), (11, 11)], "{diags}");
    assert!(diags.0[0].message.contains("gopher"));
    assert!(diags.0[1].message.contains("a.*.example.org"));
    assert!(diags.0[2].message.contains("brackets"));
}

#[test]
fn display_quotes_the_line_with_a_caret() {
    let src = "[[listener]]\nbind = \"[::]:443\"\n\n[[route]]\nhosts = [\"example.org\"]\n\
               tunnel = \"home\"\nbackend = \"[200::1]:80\"\n";
    let diags = portico_config::parse_gateway(src, Path::new("/etc/portico/gateway.toml"))
        .expect_err("invalid");
    let both = diags
        .iter()
        .find(|d| d.message.contains("both"))
        .expect("both-targets error");
    assert_eq!(
        both.to_string(),
        "error: route has both `backend` and `tunnel`; give one\n \
         --> /etc/portico/gateway.toml:6:1\n  |\n6 | tunnel = \"home\"\n  | ^^^^^^\n"
    );
}

#[test]
fn unreadable_file_is_one_error_at_line_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.toml");
    let diags = load_gateway(&missing).expect_err("missing file");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags.0[0].line, 0);
    assert!(diags.to_string().contains("cannot read"), "{diags}");
    let diags = load_tunnel(dir.path()).expect_err("a directory");
    assert_eq!(diags.0[0].line, 0);
}

#[test]
fn link_tuning_keys_are_read_and_default_when_absent() {
    let base = "[[listener]]\nbind = \"[::]:443\"\n\n[tunnels]\nbind = \"[::]:7443\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
    let path = Path::new("/etc/portico/gateway.toml");
    let defaults = portico_config::parse_gateway(base, path).expect("valid");
    let tuning = defaults.tunnels.expect("[tunnels]").link;
    assert_eq!(tuning, portico_config::model::LinkTuning::default());
    assert_eq!(tuning.max_udp_payload, 6550);
    let set = format!(
        "{base}max_udp_payload = 1452\nudp_receive_buffer = 1048576\nudp_send_buffer = 65536\n"
    );
    let tuned = portico_config::parse_gateway(&set, path).expect("valid");
    let tuning = tuned.tunnels.expect("[tunnels]").link;
    assert_eq!(
        (
            tuning.max_udp_payload,
            tuning.udp_receive_buffer,
            tuning.udp_send_buffer
        ),
        (1452, 1_048_576, 65_536)
    );
}

/// A terminating route: `[acme]`, a listener and the route with `extra`.
fn terminating(extra: &str) -> String {
    format!(
        "[[listener]]\nbind = \"[::]:443\"\n\n[acme]\ndirectory = \"https://acme.test/dir\"\n\
         contact = \"mailto:ops@example.org\"\ndomains = [\"app.example.org\"]\n\
         storage = \"/var/lib/portico/acme\"\n\n[[route]]\nhosts = [\"app.example.org\"]\n\
         terminate_tls = true\nbackend = \"[200::7]:8080\"\n{extra}"
    )
}

#[test]
fn terminating_routes_offer_http11_by_default_without_a_warning() {
    let path = Path::new("/etc/portico/gateway.toml");
    let checked = portico_config::parse_gateway_checked(&terminating(""), path).expect("valid");
    assert_eq!(checked.config.routes[0].alpn, ["http/1.1"]);
    assert!(checked.warnings.is_empty(), "{}", checked.warnings);
}

#[test]
fn offering_h2_on_a_terminating_route_is_valid_with_a_warning_at_the_alpn_key() {
    let path = Path::new("/etc/portico/gateway.toml");
    let src = terminating("alpn = [\"h2\", \"http/1.1\"]\n");
    let checked = portico_config::parse_gateway_checked(&src, path).expect("valid");
    assert_eq!(checked.config.routes[0].alpn, ["h2", "http/1.1"]);
    let warnings = &checked.warnings.0;
    assert_eq!(warnings.len(), 1, "{}", checked.warnings);
    let w = &warnings[0];
    let alpn_line = src
        .lines()
        .position(|l| l.starts_with("alpn"))
        .expect("alpn")
        + 1;
    assert_eq!(
        (w.severity, w.line, w.column, w.width),
        (portico_config::Severity::Warning, alpn_line, 1, 4)
    );
    assert!(w.message.contains("h2c"), "{w}");
    assert!(w.to_string().starts_with("warning: "), "{w}");
    // Without h2: no warning.
    let src = terminating("alpn = [\"http/1.1\", \"acme-tls/1\"]\n");
    let checked = portico_config::parse_gateway_checked(&src, path).expect("valid");
    assert!(checked.warnings.is_empty(), "{}", checked.warnings);
}

#[test]
fn certificate_warnings_are_reported_and_the_file_loads() -> Result<()> {
    let dir = tempfile::tempdir()?;
    copy_tree(
        &manifest_dir().join("tests/invalid/certs"),
        &dir.path().join("certs"),
    )?;
    let key = dir.path().join("certs/good.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    let path = dir.path().join("gateway.toml");
    std::fs::write(
        &path,
        "[[listener]]\nbind = \"[::]:443\"\n\n[[certificate]]\ncert = \"certs/good.pem\"\nkey = \"certs/good.key\"\n\n\
         [[route]]\nhosts = [\"example.org\", \"a.example.org\", \"other.test\"]\nbackend = \"[200::1]:80\"\nterminate_tls = true\n",
    )?;
    let checked =
        portico_config::load_gateway_checked(&path).map_err(|d| anyhow::anyhow!("{d}"))?;
    assert_eq!(checked.config.certificates.len(), 1);
    let messages: Vec<&str> = checked
        .warnings
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("readable by others; chmod 600")),
        "{messages:?}"
    );
    // example.org and a.example.org are covered (exact and wildcard); other.test is not.
    let uncovered: Vec<&&str> = messages.iter().filter(|m| m.contains("covers")).collect();
    assert_eq!(uncovered.len(), 1, "{messages:?}");
    assert!(uncovered[0].contains("`other.test`"), "{messages:?}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    let quiet = portico_config::load_gateway_checked(&path).map_err(|d| anyhow::anyhow!("{d}"))?;
    assert_eq!(quiet.warnings.len(), 1, "{}", quiet.warnings);
    Ok(())
}

/// A gateway file with `[admin]` lines, and a token file beside it.
fn with_admin(dir: &Path, admin: &str) -> Result<PathBuf> {
    let token = dir.join("admin.token");
    std::fs::write(&token, "0123456789abcdef0123\n")?;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600))?;
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!("[[listener]]\nbind = \"[::]:443\"\n\n[admin]\n{admin}\n"),
    )?;
    Ok(path)
}

#[test]
fn admin_token_file_is_read_and_open_binds_without_it_warn() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let quiet = portico_config::load_gateway_checked(&with_admin(
        dir.path(),
        "token_file = \"admin.token\"",
    )?)
    .map_err(|d| anyhow::anyhow!("{d}"))?;
    let admin = quiet.config.admin.clone().expect("[admin]");
    assert_eq!(admin.bind, "127.0.0.1:9180".parse()?);
    assert_eq!(
        admin.token.as_ref().map(|t| t.expose().to_vec()),
        Some(b"0123456789abcdef0123".to_vec())
    );
    assert!(quiet.warnings.is_empty(), "{}", quiet.warnings);
    // Beyond loopback with a token: fine; without: a warning at `bind`.
    let guarded = with_admin(
        dir.path(),
        "bind = \"[::]:9180\"\ntoken_file = \"admin.token\"",
    )?;
    let checked =
        portico_config::load_gateway_checked(&guarded).map_err(|d| anyhow::anyhow!("{d}"))?;
    assert!(checked.warnings.is_empty(), "{}", checked.warnings);
    let open = with_admin(dir.path(), "bind = \"0.0.0.0:9180\"")?;
    let checked =
        portico_config::load_gateway_checked(&open).map_err(|d| anyhow::anyhow!("{d}"))?;
    assert_eq!(checked.warnings.0.len(), 1, "{}", checked.warnings);
    let w = &checked.warnings.0[0];
    assert_eq!(w.line, 5, "{w}");
    assert!(w.message.contains("no token_file"), "{w}");
    Ok(())
}

#[test]
fn the_tunnel_client_admin_defaults_to_loopback_9181() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("home.token");
    std::fs::write(&token, "0123456789abcdef0123\n")?;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600))?;
    let path = dir.path().join("tunnel.toml");
    std::fs::write(
        &path,
        "gateway = \"gw.example.org:7443\"\nname = \"home\"\ntoken_file = \"home.token\"\n\n\
         [admin]\n\n[[service]]\nhosts = [\"*\"]\nto = \"127.0.0.1:8080\"\n",
    )?;
    let checked = portico_config::load_tunnel_checked(&path).map_err(|d| anyhow::anyhow!("{d}"))?;
    let admin = checked.config.admin.expect("[admin]");
    assert_eq!(admin.bind, "127.0.0.1:9181".parse()?);
    assert!(admin.token.is_none());
    assert!(checked.warnings.is_empty(), "{}", checked.warnings);
    Ok(())
}
