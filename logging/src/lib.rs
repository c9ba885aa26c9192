//! The logging setup both portico binaries share: `tracing` events to
//! stderr (journald picks them up), the level from `--log-level` or else
//! `RUST_LOG` (default `info`), colours only on a terminal.

use tracing_subscriber::EnvFilter;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The `--log-level` filter does not parse.
    #[error("invalid --log-level {level:?}: {source}")]
    Filter {
        /// The filter as given.
        level: String,
        /// Why it does not parse.
        source: tracing_subscriber::filter::ParseError,
    },
}

/// The filter for `level` (a `--log-level` value), or else `RUST_LOG`, or
/// else `info`.
pub fn filter(level: Option<&str>) -> Result<EnvFilter, LoggingError> {
    match level {
        Some(level) => EnvFilter::try_new(level).map_err(|source| LoggingError::Filter {
            level: level.to_owned(),
            source,
        }),
        None => Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))),
    }
}

/// Installs the process's subscriber: events at `level` (see [`filter`])
/// to stderr, with colours only when stderr is a terminal (journald and log
/// files get plain text).
pub fn init(level: Option<&str>) -> Result<(), LoggingError> {
    let filter = filter(level)?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_level_is_named() {
        let err = filter(Some("info,=[")).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("invalid --log-level \"info,=[\"")),
            "{err:?}"
        );
    }

    #[test]
    fn a_level_parses() {
        assert!(filter(Some("portico_gateway=debug")).is_ok());
    }
}
