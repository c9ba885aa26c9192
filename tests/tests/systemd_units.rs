//! The systemd units in `systemd/` pass `systemd-analyze verify` and keep
//! the service's `systemd-analyze security` exposure at or below 2.0
//! (checked by `systemd/verify.sh`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::Command;

use portico_tests::binaries::binary;
use portico_tests::process::run_bounded;
use portico_tests::tools::require;

#[test]
fn units_verify_and_exposure_is_at_most_2() {
    require("systemd-analyze", "systemd");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../systemd/verify.sh");
    let out = run_bounded(
        Command::new("sh")
            .arg(script)
            .arg(binary("portico-gateway")),
    );
    assert!(out.status.success(), "{}", out.all());
    assert!(out.stdout.contains("exposure: "), "{}", out.stdout);
}
