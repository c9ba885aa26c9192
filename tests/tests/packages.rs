//! The Debian packages: `packaging/build-debs.sh` builds both (release
//! binaries, man pages and completions generated from the CLI, cargo deb);
//! each installs with `dpkg -i`, `man -w` finds its page, the installed
//! units pass `systemd-analyze verify` (systemd/verify.sh), `dpkg -r`
//! leaves nothing but the configuration under /etc/portico, and `dpkg -P`
//! removes that too.
//!
//! Changes the system (installs packages): root only, skipped otherwise.
//! Needs cargo-deb (`cargo install cargo-deb --locked`; tests/run installs
//! it), dpkg, man-db and systemd.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use portico_tests::process::{Output, run};
use portico_tests::tools::require;

/// Bound on building the packages (a release build on a small machine).
const BUILD_BOUND: Duration = Duration::from_secs(900);
/// Bound on one dpkg, man or verify run.
const TOOL_BOUND: Duration = Duration::from_secs(120);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sh(cmd: &mut Command) -> Output {
    let out = run(cmd, TOOL_BOUND);
    assert!(out.status.success(), "{cmd:?}: {}", out.all());
    out
}

/// The files (not directories) a package owns, by `dpkg -L`.
fn owned_files(package: &str) -> Vec<PathBuf> {
    sh(Command::new("dpkg").args(["-L", package]))
        .stdout
        .lines()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn debian_packages_install_verify_remove_and_purge() {
    if !is_root() {
        eprintln!("skipped: installing packages needs root");
        return;
    }
    require("man", "man-db");
    require("dpkg", "dpkg");
    let build = run(
        Command::new("sh")
            .arg(workspace().join("packaging/build-debs.sh"))
            .current_dir(workspace()),
        BUILD_BOUND,
    );
    assert!(build.status.success(), "build-debs.sh: {}", build.all());
    let debs: Vec<PathBuf> = build
        .stdout
        .lines()
        .filter(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .collect();
    assert_eq!(debs.len(), 2, "{}", build.all());

    for (package, config) in [
        ("portico-gateway", "/etc/portico/gateway.toml"),
        ("portico-tunnel", "/etc/portico/tunnel.toml"),
    ] {
        let deb = debs
            .iter()
            .find(|d| {
                d.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{package}_"))
            })
            .expect("deb for package");
        // A leftover from an earlier run would hide what this one installs.
        let _ = run(Command::new("dpkg").args(["-P", package]), TOOL_BOUND);
        sh(Command::new("dpkg").arg("-i").arg(deb));
        let files = owned_files(package);
        for wanted in [
            format!("/usr/bin/{package}"),
            format!("/usr/lib/systemd/system/{package}.service"),
            format!("/usr/share/bash-completion/completions/{package}"),
            format!("/usr/share/zsh/vendor-completions/_{package}"),
            format!("/usr/share/fish/vendor_completions.d/{package}.fish"),
            config.to_owned(),
        ] {
            assert!(
                files.iter().any(|f| f == Path::new(&wanted)),
                "{wanted} not in {files:?}"
            );
        }
        assert!(
            files
                .iter()
                .any(|f| f.starts_with(format!("/usr/share/doc/{package}/examples"))),
            "no examples in {files:?}"
        );
        let conffiles = sh(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", package]));
        assert!(conffiles.stdout.contains(config), "{}", conffiles.stdout);
        let page = sh(Command::new("man").args(["-w", package]));
        assert!(
            page.stdout.contains(&format!("man1/{package}.1")),
            "{}",
            page.stdout
        );
        let help = sh(Command::new(format!("/usr/bin/{package}")).arg("--help"));
        assert!(help.stdout.contains("status"), "{}", help.stdout);
        // The installed unit is the repository's, and the units verify with
        // the installed binary in place (a stub for the other program).
        let unit = format!("{package}.service");
        assert_eq!(
            std::fs::read_to_string(Path::new("/usr/lib/systemd/system").join(&unit)).unwrap(),
            std::fs::read_to_string(workspace().join("systemd").join(&unit)).unwrap()
        );
        sh(Command::new("sh")
            .arg(workspace().join("systemd/verify.sh"))
            .args(["/usr/bin/portico-gateway", "/usr/bin/portico-tunnel"]));

        sh(Command::new("dpkg").args(["-r", package]));
        let left: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
        assert_eq!(
            left,
            [&PathBuf::from(config)],
            "after dpkg -r only the configuration stays"
        );
        sh(Command::new("dpkg").args(["-P", package]));
        assert!(!Path::new(config).exists(), "{config} survived the purge");
    }
}
