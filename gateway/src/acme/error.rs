//! The errors of the ACME manager: start-up errors name the path or URL at fault.

use std::path::PathBuf;
use std::time::Duration;

/// An error of the ACME manager.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The `[acme] directory` URL cannot be used.
    #[error("[acme] directory {url:?} is not a usable ACME directory URL: {reason}")]
    DirectoryUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `[acme] domains` is empty.
    #[error("[acme] domains is empty")]
    NoDomains,
    /// A name in `[acme] domains` cannot be certified or stored.
    #[error("[acme] domain {name:?} cannot be used: {reason}")]
    Domain {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The storage directory or a file in it cannot be created, read or written.
    #[error("[acme] storage {}: {source}", path.display())]
    Storage {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file for the ACME server cannot be used.
    #[error("[acme] directory_ca {}: {reason}", path.display())]
    DirectoryCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The system's trusted roots could not be loaded.
    #[error("no usable system trust roots for the ACME server: {0}")]
    NativeRoots(String),
    /// TLS set-up failed.
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
    /// The ACME server refused a request or could not be reached.
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    /// An order did not end with a certificate.
    #[error("order for {name}: {status}")]
    OrderFailed {
        /// The name ordered.
        name: String,
        /// What the server said.
        status: String,
    },
    /// An issuance took longer than the order timeout.
    #[error("order for {name} did not finish within {after:?}")]
    OrderTimeout {
        /// The name ordered.
        name: String,
        /// The bound that was reached.
        after: Duration,
    },
    /// A certificate bundle (stored or just issued) cannot be used.
    #[error("certificate for {name}: {reason}")]
    BadCertificate {
        /// The name it is for.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// ACME problem type for an account the server does not know (any more).
const ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";

impl AcmeError {
    /// True when the server says our account does not exist, e.g. after the
    /// CA was reset: the stored credentials are useless and a new account is due.
    pub fn is_unknown_account(&self) -> bool {
        matches!(
            self,
            Self::Protocol(instant_acme::Error::Api(problem))
                if problem.r#type.as_deref() == Some(ACCOUNT_DOES_NOT_EXIST)
        )
    }
}
