//! The open-file limit: every proxied connection holds two descriptors (and
//! briefly two more for a splice pipe), so the default soft limit of 1024
//! would cap the gateway far below `[limits] max_connections`. At start the
//! soft limit is raised to the hard limit, as HAProxy and nginx do; the hard
//! limit stays the operator's (systemd `LimitNOFILE=`, `ulimit -Hn`).

/// What [`raise_to_hard`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now in force.
    pub now: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns the limits
/// before and after, or `None` where the platform has no such limit or the
/// kernel refused (the gateway then runs with what it has).
#[cfg(target_os = "linux")]
pub fn raise_to_hard() -> Option<FdLimit> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let before = limit.current?;
    let hard = limit.maximum;
    if hard.is_some_and(|h| h <= before) {
        return Some(FdLimit {
            before,
            now: before,
        });
    }
    limit.current = hard;
    match setrlimit(Resource::Nofile, limit) {
        Ok(()) => Some(FdLimit {
            before,
            now: getrlimit(Resource::Nofile).current.unwrap_or(before),
        }),
        Err(_) => None,
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (no-op off Linux).
#[cfg(not(target_os = "linux"))]
pub fn raise_to_hard() -> Option<FdLimit> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let limit = raise_to_hard().expect("getrlimit works on Linux");
        assert!(limit.now >= limit.before);
        let after = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(after.current, Some(limit.now));
        match after.maximum {
            Some(hard) => assert_eq!(limit.now, hard),
            None => assert!(limit.now >= limit.before),
        }
    }
}
