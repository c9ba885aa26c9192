//! The configured tunnel clients and their live sessions: authentication
//! against the current `[[tunnel]]` set, capped registration, round-robin
//! selection of a session for each new stream, and the `/status` view.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use portico_config::Secret;
use portico_config::model::TunnelClient;
use portico_link::{RefuseReason, Session, codes, tokens_equal};

use super::session::{LiveSession, SessionStatus};
use crate::metrics::Metrics;

/// Default of [`RegistryLimits::max_sessions_per_name`].
pub const DEFAULT_MAX_SESSIONS_PER_NAME: usize = 16;
/// Default of [`RegistryLimits::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 1024;

/// Caps on live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryLimits {
    /// Live sessions sharing one tunnel name. Default 16.
    pub max_sessions_per_name: usize,
    /// Live sessions in total. Default 1024.
    pub max_sessions: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_sessions_per_name: DEFAULT_MAX_SESSIONS_PER_NAME,
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

/// Why an authenticated session was not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The name already has the most sessions allowed.
    #[error("tunnel already has {0} live sessions")]
    NameFull(usize),
    /// The gateway has the most sessions allowed.
    #[error("gateway already has {0} live tunnel sessions")]
    TotalFull(usize),
    /// A reload removed the name while the session was being set up.
    #[error("tunnel no longer configured")]
    NotConfigured,
}

/// A tunnel in `/status`: every configured name, with its live sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelStatus {
    /// The tunnel name.
    pub name: String,
    /// Its live sessions, oldest first.
    pub sessions: Vec<SessionStatus>,
}

/// The sessions of one name and where round-robin goes next.
#[derive(Debug, Default)]
struct NameSessions {
    sessions: Vec<Arc<LiveSession>>,
    next: usize,
}

/// Configured clients and live sessions.
#[derive(Debug)]
pub struct TunnelRegistry {
    limits: RegistryLimits,
    metrics: Arc<Metrics>,
    clients: Mutex<HashMap<String, Secret>>,
    live: Mutex<HashMap<String, NameSessions>>,
}

impl TunnelRegistry {
    /// A registry accepting `clients`.
    pub fn new(clients: &[TunnelClient], limits: RegistryLimits, metrics: Arc<Metrics>) -> Self {
        let clients = client_map(clients, &metrics);
        TunnelRegistry {
            limits,
            metrics,
            clients: Mutex::new(clients),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The counters the registry keeps up to date.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The gateway's decision on a Hello: the name must be configured and
    /// the token equal (compared in constant time).
    pub fn authenticate(&self, name: &str, token: &[u8]) -> Result<(), RefuseReason> {
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        match clients.get(name) {
            None => Err(RefuseReason::UnknownName),
            Some(secret) if tokens_equal(token, secret.expose()) => Ok(()),
            Some(_) => Err(RefuseReason::BadToken),
        }
    }

    /// Replaces the configured clients. Sessions of a removed name are
    /// closed with [`codes::CLOSE_UNKNOWN_NAME`], those of a name whose
    /// token changed with [`codes::CLOSE_BAD_TOKEN`]; returns how many.
    pub fn set_clients(&self, clients: &[TunnelClient]) -> usize {
        let new = client_map(clients, &self.metrics);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let mut closed = 0;
        live.retain(|name, entry| {
            let code = match (new.get(name), clients.get(name)) {
                (None, _) => codes::CLOSE_UNKNOWN_NAME,
                (Some(now), Some(before)) if now != before => codes::CLOSE_BAD_TOKEN,
                _ => return true,
            };
            for live in &entry.sessions {
                tracing::info!(tunnel = %name, remote = %live.remote, code, "closing tunnel session: its [[tunnel]] changed");
                live.session
                    .connection
                    .close(codes::varint(code), b"configuration changed");
                self.metrics.tunnels.session_closed(name);
                closed += 1;
            }
            false
        });
        *clients = new;
        closed
    }

    /// Registers an authenticated session, within the caps. The name's
    /// other sessions become suspect (avoided by [`TunnelRegistry::pick`])
    /// until a probe clears them: see the probe module.
    pub fn register(
        &self,
        session: Session,
        remote: SocketAddr,
    ) -> Result<Arc<LiveSession>, RegisterError> {
        if !self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&session.name)
        {
            return Err(RegisterError::NotConfigured);
        }
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = live.values().map(|e| e.sessions.len()).sum();
        if total >= self.limits.max_sessions {
            return Err(RegisterError::TotalFull(self.limits.max_sessions));
        }
        let entry = live.entry(session.name.clone()).or_default();
        if entry.sessions.len() >= self.limits.max_sessions_per_name {
            return Err(RegisterError::NameFull(self.limits.max_sessions_per_name));
        }
        self.metrics.tunnels.session_opened(&session.name);
        let live_session = Arc::new(LiveSession::new(session, remote));
        for other in &entry.sessions {
            other.mark_suspect();
        }
        entry.sessions.push(Arc::clone(&live_session));
        Ok(live_session)
    }

    /// Forgets a session (its connection closed). Returns whether it was
    /// still registered.
    pub fn remove(&self, session: &LiveSession) -> bool {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let name = &session.session.name;
        let Some(entry) = live.get_mut(name) else {
            return false;
        };
        let before = entry.sessions.len();
        entry
            .sessions
            .retain(|s| s.session.id != session.session.id);
        let removed = entry.sessions.len() < before;
        if entry.sessions.is_empty() {
            live.remove(name);
        }
        if removed {
            self.metrics.tunnels.session_closed(name);
        }
        removed
    }

    /// The next live session of tunnel `name`, round-robin, passing over
    /// sessions under suspicion (see the probe module) unless no
    /// other is left.
    pub fn pick(&self, name: &str) -> Option<Arc<LiveSession>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = live.get_mut(name)?;
        let count = entry.sessions.len();
        let mut fallback = None;
        for _ in 0..count {
            let index = entry.next % count;
            entry.next = index.wrapping_add(1);
            let Some(found) = entry.sessions.get(index) else {
                continue;
            };
            if found.session.connection.close_reason().is_some() {
                continue;
            }
            if !found.is_suspect() {
                return Some(Arc::clone(found));
            }
            fallback.get_or_insert_with(|| Arc::clone(found));
        }
        fallback
    }

    /// The other live sessions sharing `session`'s name.
    pub fn others(&self, session: &LiveSession) -> Vec<Arc<LiveSession>> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(&session.session.name)
            .map(|e| {
                e.sessions
                    .iter()
                    .filter(|s| s.session.id != session.session.id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Live sessions of tunnel `name`.
    pub fn session_count(&self, name: &str) -> usize {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(name).map_or(0, |e| e.sessions.len())
    }

    /// Live sessions of tunnel `name` that new streams avoid for now.
    pub fn suspect_count(&self, name: &str) -> usize {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(name)
            .map_or(0, |e| e.sessions.iter().filter(|s| s.is_suspect()).count())
    }

    /// Closes every live session with `code` and forgets them.
    pub fn close_all(&self, code: u32) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, entry) in live.drain() {
            for s in entry.sessions {
                s.session.connection.close(codes::varint(code), b"closing");
                self.metrics.tunnels.session_closed(&name);
            }
        }
    }

    /// Every configured tunnel with its live sessions, by name.
    pub fn status(&self) -> Vec<TunnelStatus> {
        let mut names: Vec<String> = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        names.sort();
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        names
            .into_iter()
            .map(|name| {
                let sessions = live
                    .get(&name)
                    .map(|e| e.sessions.iter().map(|s| s.status()).collect())
                    .unwrap_or_default();
                TunnelStatus { name, sessions }
            })
            .collect()
    }
}

/// Configured tokens by name; each name shows in the metrics from now on.
fn client_map(clients: &[TunnelClient], metrics: &Metrics) -> HashMap<String, Secret> {
    clients
        .iter()
        .map(|c| {
            metrics.tunnels.declare(&c.name);
            (c.name.clone(), c.token.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, token: &[u8]) -> TunnelClient {
        TunnelClient {
            name: name.into(),
            token: Secret::new(token.to_vec()),
        }
    }

    #[test]
    fn authenticates_by_name_and_token() {
        let registry = TunnelRegistry::new(
            &[client("home", b"secret-1")],
            RegistryLimits::default(),
            Arc::default(),
        );
        assert_eq!(registry.authenticate("home", b"secret-1"), Ok(()));
        assert_eq!(
            registry.authenticate("home", b"secret-2"),
            Err(RefuseReason::BadToken)
        );
        assert_eq!(
            registry.authenticate("home", b""),
            Err(RefuseReason::BadToken)
        );
        assert_eq!(
            registry.authenticate("office", b"secret-1"),
            Err(RefuseReason::UnknownName)
        );
    }

    #[test]
    fn reload_swaps_the_accepted_set() {
        let registry = TunnelRegistry::new(
            &[client("home", b"old")],
            RegistryLimits::default(),
            Arc::default(),
        );
        assert_eq!(registry.set_clients(&[client("office", b"new")]), 0);
        assert_eq!(
            registry.authenticate("home", b"old"),
            Err(RefuseReason::UnknownName)
        );
        assert_eq!(registry.authenticate("office", b"new"), Ok(()));
        let status = registry.status();
        assert_eq!(
            status,
            vec![TunnelStatus {
                name: "office".into(),
                sessions: Vec::new()
            }]
        );
        assert!(registry.pick("office").is_none());
    }

    #[test]
    fn default_limits_are_the_documented_ones() {
        let limits = RegistryLimits::default();
        assert_eq!(limits.max_sessions_per_name, 16);
        assert_eq!(limits.max_sessions, 1024);
    }
}
