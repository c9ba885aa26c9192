//! The `portico-tunnel` binary's command line: `check` on the example files,
//! on a broken file (exit 1 with the position), and usage errors (exit 2).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_portico-tunnel");

fn tunnel(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(BIN).args(args).output()?)
}

/// Copies `examples/` into `dir` with owner-only token files (git does not
/// keep file modes, and `check` refuses tokens others can read).
fn copy_examples(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::fs::create_dir_all(dir.join("tokens"))?;
    for entry in std::fs::read_dir(&examples)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
        }
    }
    for entry in std::fs::read_dir(examples.join("tokens"))? {
        let entry = entry?;
        let to = dir.join("tokens").join(entry.file_name());
        std::fs::copy(entry.path(), &to)?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[test]
fn check_accepts_the_examples() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    copy_examples(dir.path())?;
    for (file, summary) in [
        (
            "tunnel.toml",
            "ok: gateway gw.example.org:7443, 2 services, tun on",
        ),
        (
            "tunnel-plain.toml",
            "ok: gateway [2001:db8::10]:7443, 2 services, tun off",
        ),
    ] {
        let path = dir.path().join(file);
        let out = tunnel(&["check", "--config", &path.to_string_lossy()])?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), summary, "{file}");
    }
    Ok(())
}

#[test]
fn check_reports_errors_with_their_position() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tunnel.toml");
    std::fs::File::create(&path)?.write_all(
        b"gateway = \"gw.example.org:7443\"\nname = \"home\"\ntoken_file = \"missing.token\"\n\n\
          [[service]]\nhosts = [\"*\"]\nto = \"10.77.0.1:443\"\nsource = \"original\"\n",
    )?;
    let out = tunnel(&["check", "--config", &path.to_string_lossy()])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    // Both errors are reported, each with file, line and column.
    assert!(
        stderr.contains("tunnel.toml:3:"),
        "token error position: {stderr}"
    );
    assert!(
        stderr.contains("tunnel.toml:8:"),
        "source error position: {stderr}"
    );
    assert!(
        stderr.contains("[tun]"),
        "names the missing section: {stderr}"
    );
    Ok(())
}

#[test]
fn missing_config_is_a_usage_error() -> anyhow::Result<()> {
    let out = tunnel(&["check"])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
    Ok(())
}
