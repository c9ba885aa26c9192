//! Where the workspace's binaries are: next to the test executable's
//! `deps/` folder, in `target/<profile>/`.

use std::path::PathBuf;

use crate::{WAIT, poll_until};

/// The path of the built workspace binary `name` (e.g. `portico-gateway`).
///
/// Panics with a hint when it has not been built.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    // A concurrent `cargo build` replaces the file: give it a moment.
    let present = poll_until(WAIT, || path.is_file().then_some(()));
    assert!(
        present.is_some(),
        "{} not found; build them first: cargo build --bins (tests/run does)",
        path.display()
    );
    path
}
