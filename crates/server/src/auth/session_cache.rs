//! A small cache of positive session checks, so each authenticated request does not read the
//! store. Revocations on this node remove entries at once; an entry lives `ttl` at most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use securechat_proto::ids::{SessionId, UserId};

/// Most entries kept; past it the cache is cleared (it only saves reads).
const MAX_ENTRIES: usize = 100_000;

/// Sessions recently seen active.
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<SessionId, (UserId, Instant)>>,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, (UserId, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True when the session was seen active within the TTL.
    pub fn is_fresh(&self, session: SessionId) -> bool {
        self.lock()
            .get(&session)
            .is_some_and(|(_, at)| at.elapsed() < self.ttl)
    }

    /// Records an active session.
    pub fn remember(&self, session: SessionId, user: UserId) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(session, (user, Instant::now()));
    }

    /// Forgets revoked sessions.
    pub fn forget(&self, sessions: &[SessionId]) {
        let mut entries = self.lock();
        for session in sessions {
            entries.remove(session);
        }
    }

    /// Drops expired entries.
    pub fn prune(&self) {
        let ttl = self.ttl;
        self.lock().retain(|_, (_, at)| at.elapsed() < ttl);
    }
}
