//! The ACME manager against a real Pebble (with pebble-challtestsrv as its
//! DNS): issuance, restart, renewal, an unreachable server, a CA that forgot
//! the account. (Its start-up errors, which need no Pebble, are checked in
//! `gateway/tests/acme_start.rs`.)
//!
//! Needs `pebble` and `pebble-challtestsrv` (Debian: `apt-get install -y
//! pebble`) and `openssl` (the test CA of Pebble's own HTTPS).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use portico_config::model::Acme;
use portico_gateway::acme::{AcmeManager, AcmeSettings};
use portico_tests::acme::{ChallengeStoreSlot, Responder, fast_acme_settings, wait_for};
use portico_tests::pebble::Pebble;
use portico_tests::tls::served_serial;
use tokio_util::sync::CancellationToken;

/// The name the tests certify; challtestsrv resolves every name to 127.0.0.1.
const DOMAIN: &str = "gw.test";
/// A renewal window longer than any certificate's lifetime: due at once.
const TEN_YEARS: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

fn settings() -> AcmeSettings {
    fast_acme_settings()
}

fn acme_config(pebble: &Pebble, storage: &Path, renew_before: Option<Duration>) -> Acme {
    Acme {
        directory: pebble.directory(),
        contact: vec!["mailto:ops@gw.test".to_owned()],
        domains: vec![DOMAIN.to_owned()],
        storage: storage.to_path_buf(),
        directory_ca: Some(pebble.https_ca.clone()),
        renew_before,
        tls_handshake_timeout: Acme::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    }
}

/// Starts `manager.run` and returns the token that stops it.
fn spawn_run(manager: &AcmeManager, slot: &ChallengeStoreSlot) -> CancellationToken {
    slot.set(manager.challenges());
    let cancel = CancellationToken::new();
    tokio::spawn(manager.clone().run(cancel.clone()));
    cancel
}

/// Issues a certificate with a fresh manager on `storage`, then stops it.
async fn issue_once(pebble: &Pebble, slot: &ChallengeStoreSlot, storage: &Path) -> Result<String> {
    let manager = AcmeManager::start(&acme_config(pebble, storage, None), settings())?;
    let cancel = spawn_run(&manager, slot);
    wait_for("the first certificate", || {
        manager.current(DOMAIN).is_some()
    })
    .await
    .with_context(|| format!("pebble logs in {}", pebble.dir().display()))?;
    cancel.cancel();
    Ok(manager
        .current(DOMAIN)
        .map(|c| c.serial)
        .unwrap_or_default())
}

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_stores_and_serves_a_certificate() -> Result<()> {
    let (responder, slot) = Responder::start().await?;
    let pebble = Pebble::start(responder.port);
    let tmp = tempfile::tempdir()?;
    let storage = tmp.path().join("acme");
    let manager = AcmeManager::start(&acme_config(&pebble, &storage, None), settings())?;
    assert!(manager.current(DOMAIN).is_none());
    let cancel = spawn_run(&manager, &slot);
    wait_for("the certificate", || manager.current(DOMAIN).is_some()).await?;
    let info = manager.current(DOMAIN).context("current")?;
    assert!(
        responder.answered.load(Ordering::SeqCst) >= 1,
        "Pebble never fetched our challenge"
    );
    assert!(
        manager.challenges().is_empty(),
        "challenge left published after the order"
    );
    assert_eq!(manager.counters().orders_placed, 1);
    assert_eq!(manager.counters().certificates_issued, 1);

    assert_eq!(mode(&storage)?, 0o700);
    assert_eq!(mode(&storage.join("account.json"))?, 0o600);
    assert_eq!(mode(&storage.join(format!("{DOMAIN}.pem")))?, 0o600);

    let root = pebble.issuing_root();
    let served = served_serial(manager.resolver(), root.clone(), DOMAIN).await?;
    assert_eq!(served, info.serial);
    // A name we hold no certificate for gets no handshake.
    assert!(
        served_serial(manager.resolver(), root, "other.test")
            .await
            .is_err()
    );
    cancel.cancel();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reuses_account_and_certificate() -> Result<()> {
    let (responder, slot) = Responder::start().await?;
    let pebble = Pebble::start(responder.port);
    let tmp = tempfile::tempdir()?;
    let storage = tmp.path().join("acme");
    let serial = issue_once(&pebble, &slot, &storage).await?;
    let account_before = std::fs::read(storage.join("account.json"))?;

    let second = AcmeManager::start(&acme_config(&pebble, &storage, None), settings())?;
    assert_eq!(
        second.current(DOMAIN).map(|c| c.serial),
        Some(serial.clone())
    );
    let cancel = spawn_run(&second, &slot);
    wait_for("a completed round", || second.counters().good_rounds >= 1).await?;
    cancel.cancel();
    assert_eq!(second.counters().orders_placed, 0);
    assert_eq!(
        second.current(DOMAIN).map(|c| c.serial),
        Some(serial.clone())
    );
    assert_eq!(std::fs::read(storage.join("account.json"))?, account_before);
    let served = served_serial(second.resolver(), pebble.issuing_root(), DOMAIN).await?;
    assert_eq!(served, serial);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_is_served_to_new_handshakes() -> Result<()> {
    let (responder, slot) = Responder::start().await?;
    let pebble = Pebble::start(responder.port);
    let tmp = tempfile::tempdir()?;
    let storage = tmp.path().join("acme");
    let old = issue_once(&pebble, &slot, &storage).await?;
    let root = pebble.issuing_root();

    // A renewal window longer than any lifetime: due at once.
    let manager = AcmeManager::start(&acme_config(&pebble, &storage, Some(TEN_YEARS)), settings())?;
    let resolver = manager.resolver();
    assert_eq!(
        served_serial(resolver.clone(), root.clone(), DOMAIN).await?,
        old
    );
    let cancel = spawn_run(&manager, &slot);
    wait_for("the renewal", || {
        manager.counters().certificates_issued >= 1
    })
    .await?;
    let new = manager.current(DOMAIN).context("current")?.serial;
    assert_ne!(new, old);
    // The same resolver, already handed out, serves the new certificate.
    assert_eq!(served_serial(resolver, root, DOMAIN).await?, new);
    // Renewed once, not again and again.
    wait_for("a completed round", || manager.counters().good_rounds >= 1).await?;
    assert_eq!(manager.counters().orders_placed, 1);
    cancel.cancel();
    // The renewed certificate is what a restart serves.
    let restarted = AcmeManager::start(&acme_config(&pebble, &storage, None), settings())?;
    assert_eq!(restarted.current(DOMAIN).map(|c| c.serial), Some(new));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_retried_while_the_old_certificate_serves() -> Result<()> {
    let (responder, slot) = Responder::start().await?;
    let mut pebble = Pebble::start(responder.port);
    let tmp = tempfile::tempdir()?;
    let storage = tmp.path().join("acme");
    let old = issue_once(&pebble, &slot, &storage).await?;
    let root = pebble.issuing_root();
    let config = acme_config(&pebble, &storage, Some(TEN_YEARS));
    pebble.stop();

    let manager = AcmeManager::start(&config, settings())?;
    let cancel = spawn_run(&manager, &slot);
    wait_for("three failed rounds", || {
        manager.counters().failed_rounds >= 3
    })
    .await?;
    assert_eq!(manager.counters().certificates_issued, 0);
    assert_eq!(manager.current(DOMAIN).map(|c| c.serial), Some(old.clone()));
    assert_eq!(served_serial(manager.resolver(), root, DOMAIN).await?, old);
    cancel.cancel();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_that_forgot_the_account_gets_a_new_one() -> Result<()> {
    let (responder, slot) = Responder::start().await?;
    let mut pebble = Pebble::start(responder.port);
    let tmp = tempfile::tempdir()?;
    let storage = tmp.path().join("acme");
    let old = issue_once(&pebble, &slot, &storage).await?;
    let account_before = std::fs::read(storage.join("account.json"))?;
    pebble.restart();

    let manager = AcmeManager::start(&acme_config(&pebble, &storage, Some(TEN_YEARS)), settings())?;
    let cancel = spawn_run(&manager, &slot);
    wait_for("the renewal with a new account", || {
        manager.counters().certificates_issued >= 1
    })
    .await
    .with_context(|| format!("pebble logs in {}", pebble.dir().display()))?;
    cancel.cancel();
    assert!(
        manager.counters().failed_rounds >= 1,
        "the stored account was never tried"
    );
    assert_ne!(std::fs::read(storage.join("account.json"))?, account_before);
    let new = manager.current(DOMAIN).context("current")?.serial;
    assert_ne!(new, old);
    assert_eq!(
        served_serial(manager.resolver(), pebble.issuing_root(), DOMAIN).await?,
        new
    );
    Ok(())
}
