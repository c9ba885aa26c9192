//! Timing and size settings of the ACME manager, each with a documented default.

use std::time::Duration;

/// Default first retry delay after a failed attempt: 30 seconds.
pub const DEFAULT_RETRY_INITIAL: Duration = Duration::from_secs(30);
/// Default cap of the retry delay: 1 hour.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(60 * 60);
/// Default bound on one whole issuance (order, validation, download): 5 minutes.
pub const DEFAULT_ORDER_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default first delay when polling an order's status: 1 second (doubled each poll).
pub const DEFAULT_POLL_INITIAL: Duration = Duration::from_secs(1);
/// Default longest sleep between two looks at the certificates: 12 hours.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(12 * 60 * 60);
/// Default bound on one HTTP exchange with the ACME server (connect, headers, body): 30 seconds.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on one response body from the ACME server: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Settings of the ACME manager that are not part of the configuration file.
///
/// [`AcmeSettings::default`] gives values suited to a public CA; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// First delay before retrying after a failure; doubled on each further
    /// failure up to [`AcmeSettings::retry_max`]. Default [`DEFAULT_RETRY_INITIAL`].
    pub retry_initial: Duration,
    /// Cap of the retry delay. Default [`DEFAULT_RETRY_MAX`].
    pub retry_max: Duration,
    /// Bound on one issuance, from the new order to the downloaded chain.
    /// Default [`DEFAULT_ORDER_TIMEOUT`].
    pub order_timeout: Duration,
    /// First delay when polling an order; doubled each poll, bounded by
    /// [`AcmeSettings::order_timeout`]. Default [`DEFAULT_POLL_INITIAL`].
    pub poll_initial: Duration,
    /// Longest sleep between two looks at the certificates (guards against
    /// clock jumps and re-reads ACME Renewal Information); also the shortest
    /// time between two issuances for the same name. Default [`DEFAULT_CHECK_INTERVAL`].
    pub check_interval: Duration,
    /// Bound on one HTTP exchange with the ACME server. Default [`DEFAULT_HTTP_TIMEOUT`].
    pub http_timeout: Duration,
    /// Cap on one response body from the ACME server. Default [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: usize,
}

impl Default for AcmeSettings {
    fn default() -> Self {
        Self {
            retry_initial: DEFAULT_RETRY_INITIAL,
            retry_max: DEFAULT_RETRY_MAX,
            order_timeout: DEFAULT_ORDER_TIMEOUT,
            poll_initial: DEFAULT_POLL_INITIAL,
            check_interval: DEFAULT_CHECK_INTERVAL,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}
