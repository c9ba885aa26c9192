//! One ACME exchange at a time: getting the account (stored or new) and
//! ordering one certificate, answering its HTTP-01 challenge ourselves.

use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewAccount,
    NewOrder, Order, OrderStatus, RetryPolicy,
};
use rustls::ClientConfig;

use super::challenges::ChallengeStore;
use super::client::BoundedClient;
use super::error::AcmeError;
use super::settings::AcmeSettings;
use super::storage::Storage;

/// Where and as whom to talk to the ACME server.
pub(crate) struct AccountSource<'a> {
    /// Directory URL.
    pub directory: &'a str,
    /// Contact URIs for a new account.
    pub contact: &'a [String],
    /// TLS client configuration for the server.
    pub tls: &'a ClientConfig,
    /// Timing and size bounds.
    pub settings: &'a AcmeSettings,
    /// Where the credentials live.
    pub storage: &'a Storage,
}

impl AccountSource<'_> {
    fn builder(&self) -> instant_acme::AccountBuilder {
        Account::builder_with_http(Box::new(BoundedClient::new(
            self.tls.clone(),
            self.settings,
        )))
    }

    /// The stored account (unless `reuse_stored` is false), or a new one
    /// that is stored at once.
    pub(crate) async fn account(&self, reuse_stored: bool) -> Result<Account, AcmeError> {
        let stored = if reuse_stored {
            self.storage
                .load_account(self.directory)
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "unreadable ACME account credentials; creating a new account");
                    None
                })
        } else {
            None
        };
        if let Some(creds) = stored {
            let account = bounded(self.settings, self.builder().from_credentials(creds)).await?;
            tracing::debug!(account = account.id(), "ACME account loaded");
            return Ok(account);
        }
        let contact: Vec<&str> = self.contact.iter().map(String::as_str).collect();
        let new = NewAccount {
            contact: &contact,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, creds) = bounded(
            self.settings,
            self.builder().create(&new, self.directory.to_owned(), None),
        )
        .await?;
        self.storage.save_account(self.directory, &creds)?;
        tracing::info!(
            account = account.id(),
            directory = self.directory,
            "ACME account created"
        );
        Ok(account)
    }
}

/// Runs `fut` within the HTTP timeout (it makes a handful of exchanges, each
/// bounded; this bounds the sum).
async fn bounded<T>(
    settings: &AcmeSettings,
    fut: impl Future<Output = Result<T, instant_acme::Error>>,
) -> Result<T, AcmeError> {
    let limit = settings.http_timeout.saturating_mul(4);
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| {
            AcmeError::Protocol(instant_acme::Error::Other(
                format!("account set-up did not finish within {limit:?}").into(),
            ))
        })?
        .map_err(AcmeError::from)
}

/// Orders a certificate for `name` and returns the bundle (chain, then
/// private key, PEM). `replaces` names the certificate it succeeds (ACME
/// Renewal Information); an order the server refuses with it is retried
/// once without. The whole exchange is bounded by the order timeout.
pub(crate) async fn issue(
    account: &Account,
    name: &str,
    replaces: Option<CertificateIdentifier<'static>>,
    challenges: &ChallengeStore,
    settings: &AcmeSettings,
) -> Result<String, AcmeError> {
    tokio::time::timeout(
        settings.order_timeout,
        issue_unbounded(account, name, replaces, challenges, settings),
    )
    .await
    .map_err(|_| AcmeError::OrderTimeout {
        name: name.to_owned(),
        after: settings.order_timeout,
    })?
}

async fn issue_unbounded(
    account: &Account,
    name: &str,
    replaces: Option<CertificateIdentifier<'static>>,
    challenges: &ChallengeStore,
    settings: &AcmeSettings,
) -> Result<String, AcmeError> {
    let ids = [Identifier::Dns(name.to_owned())];
    let mut order = match replaces {
        Some(old) => match account.new_order(&NewOrder::new(&ids).replaces(old)).await {
            Ok(order) => order,
            Err(error @ (instant_acme::Error::Api(_) | instant_acme::Error::Unsupported(_))) => {
                tracing::warn!(name, %error, "order replacing the old certificate refused; ordering without");
                account.new_order(&NewOrder::new(&ids)).await?
            }
            Err(e) => return Err(e.into()),
        },
        None => account.new_order(&NewOrder::new(&ids)).await?,
    };
    tracing::info!(name, order = order.url(), "ACME order placed");
    let failed = |status: String| AcmeError::OrderFailed {
        name: name.to_owned(),
        status,
    };
    let mut tokens = challenges.guard();
    publish_challenges(&mut order, &mut tokens, name).await?;
    let retry = RetryPolicy::new()
        .initial_delay(settings.poll_initial)
        .backoff(2.0)
        .timeout(settings.order_timeout);
    let status = order.poll_ready(&retry).await?;
    if status != OrderStatus::Ready {
        let detail = order
            .state()
            .error
            .as_ref()
            .map_or_else(String::new, |p| format!(": {p}"));
        return Err(failed(format!("order became {status:?}{detail}")));
    }
    let key_pem = order.finalize().await?;
    let chain = order.poll_certificate(&retry).await?;
    drop(tokens);
    let mut bundle = chain;
    if !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str(&key_pem);
    Ok(bundle)
}

/// Publishes the HTTP-01 key authorization of every pending authorization
/// and tells the server to validate.
async fn publish_challenges(
    order: &mut Order,
    tokens: &mut super::challenges::TokenGuard,
    name: &str,
) -> Result<(), AcmeError> {
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::OrderFailed {
                    name: name.to_owned(),
                    status: format!("authorization is {other:?}"),
                });
            }
        }
        let mut challenge =
            authz
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| AcmeError::OrderFailed {
                    name: name.to_owned(),
                    status: "the server offers no HTTP-01 challenge".to_owned(),
                })?;
        tokens.insert(
            challenge.token.clone(),
            challenge.key_authorization().as_str().to_owned(),
        );
        challenge.set_ready().await?;
    }
    Ok(())
}
