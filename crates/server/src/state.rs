//! Shared server state, cloned into every handler.

use std::sync::Arc;

use securechat_store::Store;

use crate::auth::password::Passwords;
use crate::auth::rate_limit::FailureLimiter;
use crate::auth::session_cache::SessionCache;
use crate::auth::tokens::TokenKeys;
use crate::metrics::Metrics;
use crate::presence::Presence;
use crate::settings::Settings;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    store: Arc<dyn Store>,
    tokens: TokenKeys,
    passwords: Passwords,
    sessions: SessionCache,
    account_failures: FailureLimiter,
    ip_failures: FailureLimiter,
    presence: Presence,
    metrics: Metrics,
    /// Serialises the IP-rule check with the session insert, so concurrent logins cannot both
    /// pass a limit that only one of them may take.
    login_gate: tokio::sync::Mutex<()>,
}

impl AppState {
    /// Builds the state from settings, a store and the token signing secret.
    pub fn new(settings: Settings, store: Arc<dyn Store>, token_secret: &[u8]) -> Self {
        let limits = &settings.login_limits;
        Self {
            inner: Arc::new(Inner {
                tokens: TokenKeys::new(token_secret, &settings.issuer, settings.access_ttl),
                passwords: Passwords::new(settings.hash_concurrency),
                sessions: SessionCache::new(settings.session_cache_ttl),
                account_failures: FailureLimiter::new(limits.per_account, limits.window),
                ip_failures: FailureLimiter::new(limits.per_ip, limits.window),
                presence: Presence::default(),
                metrics: Metrics::install(),
                login_gate: tokio::sync::Mutex::new(()),
                settings,
                store,
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }
    pub fn tokens(&self) -> &TokenKeys {
        &self.inner.tokens
    }
    pub fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }
    pub fn sessions(&self) -> &SessionCache {
        &self.inner.sessions
    }
    pub fn account_failures(&self) -> &FailureLimiter {
        &self.inner.account_failures
    }
    pub fn ip_failures(&self) -> &FailureLimiter {
        &self.inner.ip_failures
    }
    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
    pub fn login_gate(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.login_gate
    }
}
