//! Host patterns of routes and services: an exact name, `*.suffix`, or `*`.

use portico_sniff::Hostname;

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
