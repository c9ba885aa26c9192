//! Third-party programs the tests need: found on `PATH`, or the test fails
//! with the command that installs them.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The path of `program`, or a panic saying `apt-get install -y package`.
pub fn require(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{program}` not found: install it: apt-get install -y {package}")
        })
}

/// `/usr/bin/python3` with the Debian `slixmpp` module importable, or a panic
/// with the install command.
pub fn python_with_slixmpp() -> PathBuf {
    let python = PathBuf::from("/usr/bin/python3");
    let ok = python.is_file()
        && Command::new(&python)
            .args(["-c", "import slixmpp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    assert!(
        ok,
        "/usr/bin/python3 cannot import slixmpp: install it: apt-get install -y python3 python3-slixmpp"
    );
    python
}

/// `python3` as found on `PATH` (the interpreter `tests/run` installs pip
/// packages for) with `module` importable, or a panic with the command that
/// installs `package`.
pub fn python_with_pip_module(module: &str, package: &str) -> PathBuf {
    let python = require("python3", "python3");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        ok,
        "{} cannot import {module}: install it: {} -m pip install {package}",
        python.display(),
        python.display()
    );
    python
}

/// The test script `name` in `tests/scripts/`.
pub fn script(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name);
    assert!(path.is_file(), "missing test script {}", path.display());
    path
}

#[cfg(test)]
mod tests {
    use super::require;

    #[test]
    #[should_panic(expected = "install it: apt-get install -y no-such-package")]
    fn a_missing_program_fails_with_the_install_command() {
        require("portico-no-such-program", "no-such-package");
    }

    #[test]
    fn a_present_program_is_found() {
        assert!(require("sh", "dash").is_file());
    }
}
