//! Host patterns of routes and services: an exact name, `*.suffix`, or `*`.

use std::fmt;
use std::str::FromStr;

use portico_sniff::{Hostname, HostnameError};

/// Which hostnames a route or service serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this (normalised) name.
    Exact(Hostname),
    /// `*.suffix`: every name below `suffix`, at any depth, not `suffix` itself.
    /// Holds the normalised suffix without the `*.`.
    Wildcard(Hostname),
    /// `*`: any name, and connections that carry none.
    Any,
}

/// Why a string is not a host pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPatternError {
    /// Empty string.
    #[error("empty host pattern")]
    Empty,
    /// A `*` anywhere but as the whole first label (`a.*.b`, `*foo`, `**`).
    #[error("`*` may only stand alone or as the first label: \"*\" or \"*.example.org\"")]
    MisplacedWildcard,
    /// `*.` followed by an IP literal.
    #[error("a wildcard needs a DNS name after `*.`, not an IP address")]
    WildcardOfIp,
    /// The name part is not a valid hostname.
    #[error("{0}")]
    Hostname(#[from] HostnameError),
}

/// How specific a pattern is; greater wins when several patterns match a
/// name: an exact name, then the longer wildcard suffix, then `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Specificity {
    /// 0 for `*`, 1 for a wildcard, 2 for an exact name.
    rank: u8,
    /// Length of the wildcard suffix in bytes (0 otherwise).
    suffix_len: usize,
}

impl HostPattern {
    /// Parses the configuration form: `"*"`, `"*.example.org"` or
    /// `"example.org"`. Names are lower-cased and lose a trailing dot.
    pub fn parse(text: &str) -> Result<HostPattern, HostPatternError> {
        if text.is_empty() {
            return Err(HostPatternError::Empty);
        }
        if text == "*" {
            return Ok(HostPattern::Any);
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            if suffix.contains('*') {
                return Err(HostPatternError::MisplacedWildcard);
            }
            let name = Hostname::parse(suffix.as_bytes())?;
            if name.as_str().parse::<std::net::IpAddr>().is_ok() {
                return Err(HostPatternError::WildcardOfIp);
            }
            return Ok(HostPattern::Wildcard(name));
        }
        if text.contains('*') {
            return Err(HostPatternError::MisplacedWildcard);
        }
        Ok(HostPattern::Exact(Hostname::parse(text.as_bytes())?))
    }

    /// Whether a connection for `host` (`None`: it named no host) matches.
    /// `*` matches everything, including `None`.
    pub fn matches(&self, host: Option<&Hostname>) -> bool {
        match (self, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Exact(name), Some(host)) => name == host,
            (HostPattern::Wildcard(suffix), Some(host)) => host
                .as_str()
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (_, None) => false,
        }
    }

    /// The priority of this pattern among several that match one name.
    pub fn specificity(&self) -> Specificity {
        match self {
            HostPattern::Any => Specificity {
                rank: 0,
                suffix_len: 0,
            },
            HostPattern::Wildcard(s) => Specificity {
                rank: 1,
                suffix_len: s.as_str().len(),
            },
            HostPattern::Exact(_) => Specificity {
                rank: 2,
                suffix_len: 0,
            },
        }
    }
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostPattern::parse(s)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name.as_str()),
            HostPattern::Wildcard(suffix) => write!(f, "*.{}", suffix.as_str()),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> Hostname {
        Hostname::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(HostPattern::parse("*"), Ok(HostPattern::Any));
        assert_eq!(
            HostPattern::parse("Example.ORG."),
            Ok(HostPattern::Exact(host("example.org")))
        );
        assert_eq!(
            HostPattern::parse("*.Example.org"),
            Ok(HostPattern::Wildcard(host("example.org")))
        );
        assert_eq!(
            HostPattern::parse("*.example.org").unwrap().to_string(),
            "*.example.org"
        );
    }

    #[test]
    fn rejects_misplaced_wildcards() {
        for bad in ["a.*.b", "*foo", "**", "*.*.b", "foo*", "*."] {
            assert!(HostPattern::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(HostPattern::parse(""), Err(HostPatternError::Empty));
        assert_eq!(
            HostPattern::parse("a.*.b"),
            Err(HostPatternError::MisplacedWildcard)
        );
        assert_eq!(
            HostPattern::parse("*.10.0.0.1"),
            Err(HostPatternError::WildcardOfIp)
        );
    }

    #[test]
    fn matching() {
        let wild = HostPattern::parse("*.example.org").unwrap();
        assert!(wild.matches(Some(&host("a.example.org"))));
        assert!(wild.matches(Some(&host("a.b.example.org"))));
        assert!(!wild.matches(Some(&host("example.org"))));
        assert!(!wild.matches(Some(&host("badexample.org"))));
        assert!(!wild.matches(None));
        let exact = HostPattern::parse("example.org").unwrap();
        assert!(exact.matches(Some(&host("EXAMPLE.org."))));
        assert!(!exact.matches(Some(&host("a.example.org"))));
        assert!(!exact.matches(None));
        assert!(HostPattern::Any.matches(None));
        assert!(HostPattern::Any.matches(Some(&host("x.y"))));
    }

    #[test]
    fn priority() {
        let exact = HostPattern::parse("a.b.example.org").unwrap().specificity();
        let long = HostPattern::parse("*.b.example.org").unwrap().specificity();
        let short = HostPattern::parse("*.example.org").unwrap().specificity();
        let any = HostPattern::Any.specificity();
        assert!(exact > long && long > short && short > any);
    }
}
