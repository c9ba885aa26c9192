//! The background loop: order what is missing, renew what is due (by the
//! local schedule or the server's Renewal Information), retry failures with
//! capped back-off, and swap renewed certificates into the resolver.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use instant_acme::{Account, CertificateIdentifier};
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::certificate::{self, LoadedCert};
use super::error::AcmeError;
use super::issue::{self, AccountSource};
use super::schedule::{self, Backoff};

/// Shortest wait before asking for Renewal Information again, whatever the
/// server suggests (or the check interval, if that is shorter).
const MIN_ARI_RECHECK: Duration = Duration::from_secs(60);

/// What the loop remembers between rounds.
struct RunState {
    account: Option<Account>,
    /// Set when the server no longer knew the stored account.
    new_account: bool,
    backoff: Backoff,
    /// When each name last got a certificate in this run.
    issued_at: HashMap<String, Instant>,
    /// Renewal moment chosen inside the server's suggested window, per name.
    ari_due: HashMap<String, SystemTime>,
    /// When to ask for Renewal Information next, per name.
    ari_next: HashMap<String, Instant>,
    /// Whether the server offers Renewal Information: unknown until asked.
    ari_offered: Option<bool>,
}

/// Runs rounds until `cancel` fires.
pub(super) async fn run(inner: &Inner, cancel: CancellationToken) {
    let mut state = RunState {
        account: None,
        new_account: false,
        backoff: Backoff::new(inner.settings.retry_initial, inner.settings.retry_max),
        issued_at: HashMap::new(),
        ari_due: HashMap::new(),
        ari_next: HashMap::new(),
        ari_offered: None,
    };
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = round(inner, &mut state) => outcome,
        };
        let wait = match outcome {
            Ok(wait) => {
                inner.counters.good_rounds.fetch_add(1, Ordering::Relaxed);
                state.backoff.reset();
                wait
            }
            Err(error) => {
                inner.counters.failed_rounds.fetch_add(1, Ordering::Relaxed);
                // The server may have forgotten us or moved: start afresh next time.
                state.account = None;
                if error.is_unknown_account() {
                    tracing::warn!(
                        "the ACME server does not know the stored account; a new one will be created"
                    );
                    state.new_account = true;
                }
                let wait = state.backoff.next_delay();
                tracing::warn!(%error, retry_in = ?wait, "ACME round failed; current certificates keep serving");
                wait
            }
        };
        tracing::debug!(?wait, "next ACME round");
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One round: renew every due name, refresh Renewal Information, and return
/// how long to sleep. The first failure is returned after the other names
/// have had their turn (Renewal Information waits for a round without one).
async fn round(inner: &Inner, state: &mut RunState) -> Result<Duration, AcmeError> {
    let now = SystemTime::now();
    let due: Vec<String> = inner
        .domains
        .iter()
        .filter(|name| due_at(inner, state, name) <= now && !recently_issued(inner, state, name))
        .cloned()
        .collect();
    let mut first_error = None;
    for name in &due {
        if let Err(e) = renew_one(inner, state, name).await {
            tracing::warn!(name, error = %e, "certificate not obtained");
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    refresh_renewal_info(inner, state).await;
    Ok(next_wait(inner, state))
}

/// Orders and installs a certificate for `name`.
async fn renew_one(inner: &Inner, state: &mut RunState, name: &str) -> Result<(), AcmeError> {
    let account = account(inner, state).await?;
    let replaces = if state.ari_offered == Some(true) {
        current(inner, name)
            .as_ref()
            .and_then(LoadedCert::leaf)
            .and_then(|leaf| CertificateIdentifier::try_from(leaf).ok())
            .map(CertificateIdentifier::into_owned)
    } else {
        None
    };
    inner.counters.orders_placed.fetch_add(1, Ordering::Relaxed);
    let bundle = issue::issue(&account, name, replaces, &inner.challenges, &inner.settings).await?;
    let cert =
        certificate::parse_bundle(name, bundle.as_bytes(), &inner.provider).map_err(|reason| {
            AcmeError::BadCertificate {
                name: name.to_owned(),
                reason,
            }
        })?;
    // Stored first, so a restart never serves an older certificate than this
    // run did; an unwritable store still lets the new certificate serve.
    let saved = inner.storage.save_cert(name, bundle.as_bytes());
    inner.resolver.install(name, cert.key.clone());
    // Logged once stored and served: the next handshake gets it.
    tracing::info!(name, serial = cert.info.serial, "certificate obtained");
    inner
        .counters
        .certificates_issued
        .fetch_add(1, Ordering::Relaxed);
    inner
        .current
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.to_owned(), cert);
    state.issued_at.insert(name.to_owned(), Instant::now());
    state.ari_due.remove(name);
    state.ari_next.remove(name);
    if due_at(inner, state, name) <= SystemTime::now() {
        tracing::warn!(
            name,
            "the new certificate is already due for renewal (renew_before longer than its lifetime?); next try after the check interval"
        );
    }
    saved
}

/// The account of this run, loaded or created on first use.
async fn account(inner: &Inner, state: &mut RunState) -> Result<Account, AcmeError> {
    if let Some(account) = &state.account {
        return Ok(account.clone());
    }
    let source = AccountSource {
        directory: &inner.directory,
        contact: &inner.contact,
        tls: &inner.tls,
        settings: &inner.settings,
        storage: &inner.storage,
    };
    let account = source.account(!state.new_account).await?;
    state.account = Some(account.clone());
    state.new_account = false;
    Ok(account)
}

/// The certificate served for `name`.
fn current(inner: &Inner, name: &str) -> Option<LoadedCert> {
    inner
        .current
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .cloned()
}

/// When `name` is due: now if it has no certificate, otherwise the earlier of
/// the local schedule and the server's suggested window.
fn due_at(inner: &Inner, state: &RunState, name: &str) -> SystemTime {
    let Some(cert) = current(inner, name) else {
        return SystemTime::UNIX_EPOCH;
    };
    let local = schedule::local_due(&cert.info, inner.renew_before);
    match state.ari_due.get(name) {
        Some(ari) => local.min(*ari),
        None => local,
    }
}

/// True if `name` got its certificate less than a check interval ago; stops a
/// renewal window longer than the lifetime from ordering in a tight loop.
fn recently_issued(inner: &Inner, state: &RunState, name: &str) -> bool {
    state
        .issued_at
        .get(name)
        .is_some_and(|at| at.elapsed() < inner.settings.check_interval)
}

/// Asks the server for Renewal Information on each certificate whose turn it
/// is. Best effort: a failure only postpones the question.
async fn refresh_renewal_info(inner: &Inner, state: &mut RunState) {
    if state.ari_offered == Some(false) {
        return;
    }
    let recheck_floor = MIN_ARI_RECHECK.min(inner.settings.check_interval);
    for name in &inner.domains {
        if state
            .ari_next
            .get(name)
            .is_some_and(|next| *next > Instant::now())
        {
            continue;
        }
        let Some(id) = current(inner, name)
            .as_ref()
            .and_then(LoadedCert::leaf)
            .and_then(|leaf| CertificateIdentifier::try_from(leaf).ok())
            .map(CertificateIdentifier::into_owned)
        else {
            continue;
        };
        let account = match account(inner, state).await {
            Ok(account) => account,
            Err(error) => {
                tracing::debug!(%error, "no ACME account for Renewal Information");
                return;
            }
        };
        let asked = tokio::time::timeout(inner.settings.http_timeout, account.renewal_info(&id));
        let (again, chosen) = match asked.await {
            Ok(Ok((info, retry_after))) => {
                state.ari_offered = Some(true);
                let window = &info.suggested_window;
                let chosen = schedule::in_window(
                    window.start.unix_timestamp(),
                    window.end.unix_timestamp(),
                    schedule::random_fraction(),
                );
                (retry_after, chosen)
            }
            Ok(Err(instant_acme::Error::Unsupported(_))) => {
                tracing::debug!("the ACME server offers no Renewal Information");
                state.ari_offered = Some(false);
                return;
            }
            Ok(Err(error)) => {
                tracing::debug!(name, %error, "Renewal Information not available");
                (inner.settings.check_interval, None)
            }
            Err(_) => (inner.settings.check_interval, None),
        };
        if let Some(at) = chosen {
            state.ari_due.insert(name.clone(), at);
        }
        let again = again.clamp(
            recheck_floor,
            inner.settings.check_interval.max(recheck_floor),
        );
        state.ari_next.insert(name.clone(), Instant::now() + again);
    }
}

/// How long to sleep: until the next name is due or the next Renewal
/// Information question, at most the check interval.
fn next_wait(inner: &Inner, state: &RunState) -> Duration {
    let now = SystemTime::now();
    let mut wait = inner.settings.check_interval;
    for name in &inner.domains {
        if recently_issued(inner, state, name) {
            continue;
        }
        let until = due_at(inner, state, name)
            .duration_since(now)
            .unwrap_or(Duration::ZERO);
        wait = wait.min(until);
    }
    if state.ari_offered != Some(false) {
        let soonest = state.ari_next.values().min();
        if let Some(next) = soonest {
            wait = wait.min(next.saturating_duration_since(Instant::now()));
        }
    }
    wait
}
