//! Shared server state, cloned into every handler.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::ws::WsErrorCode;
use securechat_store::model::AccountRemoval;
use securechat_store::security::SecurityKind;
use securechat_store::{Store, StoreError};

use crate::auth::login_guard::Attempt;
use crate::auth::login_guard::LoginGuard;
use crate::auth::opaque::OpaqueKeys;
use crate::auth::password::Passwords;
use crate::auth::rate_limit::FailureLimiter;
use crate::auth::security_log::SecurityLog;
use crate::auth::session_cache::SessionCache;
use crate::auth::tokens::TokenKeys;
use crate::blobs::Blobs;
use crate::cluster::seal::WordKey;
use crate::cluster::wire::{LimitWord, Revocation};
use crate::cluster::{agreement, Cluster};
use crate::error::ApiError;
use crate::lifecycle::{Lifecycle, SOCKET_GRACE};
use crate::metrics::Metrics;
use crate::realtime::budget::{Budgets, Rate};
use crate::realtime::delivery::Delivery;
use crate::realtime::hub::Hub;
use crate::realtime::work::Job;
use crate::settings::Settings;

/// Password-reset attempts and "forgot password" requests allowed per client IP within the
/// failed-login window.
const RECOVERY_PER_IP: u32 = 10;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    store: Arc<dyn Store>,
    tokens: TokenKeys,
    opaque: OpaqueKeys,
    passwords: Passwords,
    sessions: SessionCache,
    login_guard: LoginGuard,
    /// Registrations per client IP, and server-wide under one key.
    registrations_per_ip: FailureLimiter,
    registrations_global: FailureLimiter,
    /// Password-reset attempts and "forgot password" requests per client IP (every request
    /// counts), and reset mails per account.
    recovery_per_ip: FailureLimiter,
    reset_mails: FailureLimiter,
    /// Refusals and blocks, written for `securechat admin blocks`.
    security_log: Arc<SecurityLog>,
    hub: Arc<Hub>,
    cluster: Cluster,
    delivery: Delivery,
    budgets: Arc<Budgets>,
    lifecycle: Lifecycle,
    blobs: Blobs,
    /// Live users seen, to check recipients without a query (an account deleted on another
    /// node may linger here; the store refuses messages to it all the same).
    known_users: RwLock<HashSet<UserId>>,
    metrics: Metrics,
    /// Permits to stream an upload (`Settings::upload_concurrency`).
    uploads: tokio::sync::Semaphore,
}

impl AppState {
    /// Builds the state from settings, a store, the file store and the token signing secret.
    /// Starts the delivery task, so it must run inside a Tokio runtime.
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        blobs: Blobs,
        token_secret: &[u8],
    ) -> Self {
        let lifecycle = Lifecycle::default();
        let registrations = &settings.registration_limits;
        let hub = Arc::new(Hub::default());
        hub.start_presence(lifecycle.tasks.clone());
        let (cluster, cluster_tasks) = match &settings.cluster {
            Some(cluster) => {
                let digests = agreement::digests(&settings, token_secret, &blobs.shared_location());
                let key = WordKey::from_token_secret(token_secret);
                let (cluster, tasks, local) = Cluster::new(cluster.clone(), digests, key);
                hub.watch_local(local);
                (cluster, Some(tasks))
            }
            None => (Cluster::default(), None),
        };
        let delivery = Delivery::start(
            store.clone(),
            hub.clone(),
            blobs.clone(),
            cluster.clone(),
            16 * 1024,
            lifecycle.tasks.clone(),
        );
        let realtime = &settings.realtime;
        let budgets = Budgets::new(
            Rate {
                per_second: realtime.frames_per_second_per_user,
                burst: realtime.frame_burst_per_user,
            },
            Rate {
                per_second: realtime.frames_per_second_per_address,
                burst: realtime.frame_burst_per_address,
            },
        );
        let security_log = Arc::new(SecurityLog::default());
        security_log.start(store.clone(), lifecycle.tasks.clone());
        let state = Self {
            inner: Arc::new(Inner {
                tokens: TokenKeys::new(token_secret, &settings.issuer, settings.access_ttl),
                opaque: OpaqueKeys::from_token_secret(token_secret),
                passwords: Passwords::new(settings.hash_concurrency),
                sessions: SessionCache::new(settings.session_cache_ttl),
                login_guard: LoginGuard::new(&settings.login_limits),
                registrations_per_ip: FailureLimiter::new(
                    registrations.per_ip,
                    registrations.window,
                ),
                registrations_global: FailureLimiter::new(
                    registrations.global,
                    registrations.window,
                ),
                recovery_per_ip: FailureLimiter::new(RECOVERY_PER_IP, settings.login_limits.window),
                reset_mails: FailureLimiter::new(1, settings.login_limits.window),
                security_log,
                hub,
                cluster,
                delivery,
                budgets,
                lifecycle,
                blobs,
                known_users: RwLock::default(),
                metrics: Metrics::install(),
                uploads: tokio::sync::Semaphore::new(settings.upload_concurrency.max(1)),
                settings,
                store,
            }),
        };
        // The database poll: in a cluster among the node's tasks, else on its own (it reads
        // what `securechat admin` writes).
        match cluster_tasks {
            Some(tasks) => tasks.spawn(&state),
            None => {
                let stop = state.lifecycle().tasks.clone();
                tokio::spawn(crate::cluster::poll::run(state.clone(), None, stop));
            }
        }
        state
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }
    /// The OPAQUE setup and the key of pending logins.
    pub fn opaque(&self) -> &OpaqueKeys {
        &self.inner.opaque
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
    pub fn login_guard(&self) -> &LoginGuard {
        &self.inner.login_guard
    }
    /// Registration limiters: per client IP, and the server-wide one (key `""`).
    pub fn registration_limits(&self) -> (&FailureLimiter, &FailureLimiter) {
        (
            &self.inner.registrations_per_ip,
            &self.inner.registrations_global,
        )
    }
    /// Recovery limiters: reset attempts and "forgot password" requests per client IP, and
    /// reset mails per account (one per failed-login window).
    pub fn recovery_limits(&self) -> (&FailureLimiter, &FailureLimiter) {
        (&self.inner.recovery_per_ip, &self.inner.reset_mails)
    }
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }
    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// Ends revoked sessions everywhere: their cached checks here, their sockets here and,
    /// through the cluster, on every other node.
    pub fn revoke_sessions(&self, sessions: &[SessionId], why: Revocation) {
        self.sessions().forget(sessions);
        self.hub()
            .close_sessions(sessions, WsErrorCode::SessionRevoked, why.message());
        self.cluster().publish_revocation(why, sessions);
    }

    /// A wrong login name or password: counted here and on every other node.
    pub fn login_failed(&self, attempt: &Attempt<'_>) {
        self.login_guard().failed(attempt);
        self.cluster().publish_limit(&LimitWord::LoginFailed {
            known_source: attempt.known_source,
            ip: attempt.ip.to_owned(),
            account: attempt.account.to_owned(),
        });
    }

    /// A right password: counted here and on every other node.
    pub fn login_succeeded(&self, attempt: &Attempt<'_>) {
        self.login_guard().succeeded(attempt);
        self.cluster().publish_limit(&LimitWord::LoginSucceeded {
            known_source: attempt.known_source,
            ip: attempt.ip.to_owned(),
            account: attempt.account.to_owned(),
        });
    }

    /// An OPAQUE login counted as failed at its start that then succeeded: taken back here
    /// and on every other node.
    pub fn login_forgiven(&self, attempt: &Attempt<'_>) {
        self.login_guard().forgiven(attempt);
        self.cluster().publish_limit(&LimitWord::LoginForgiven {
            known_source: attempt.known_source,
            ip: attempt.ip.to_owned(),
            account: attempt.account.to_owned(),
        });
    }

    /// A verified OPAQUE finish that stored no session (the IP rule, a disabled account):
    /// its account's counts taken back, here and (the account's) on every node, once per
    /// login on this node.
    pub fn refused_finish(&self, session: SessionId, attempt: &Attempt<'_>) {
        if self.login_guard().refused_finish(session.0, attempt) && !attempt.known_source {
            self.cluster()
                .publish_limit(&LimitWord::PasswordCheckForgiven {
                    account: attempt.account.to_owned(),
                });
        }
    }

    /// An OPAQUE proof of the current password that succeeded after being counted as a
    /// failure: taken back here and on every node.
    pub fn password_check_forgiven(&self, account: &str) {
        self.login_guard().account().forgive(account);
        self.cluster()
            .publish_limit(&LimitWord::PasswordCheckForgiven {
                account: account.to_owned(),
            });
    }

    /// A wrong current password in a password change: counted here and on every node.
    pub fn password_check_failed(&self, account: &str) {
        self.login_guard().account().record_failure(account);
        self.cluster()
            .publish_limit(&LimitWord::PasswordCheckFailed {
                account: account.to_owned(),
            });
    }

    /// A registration let through here: the other nodes count it too.
    pub fn registered_from(&self, ip: &str) {
        self.cluster()
            .publish_limit(&LimitWord::Registered { ip: ip.to_owned() });
    }

    /// Notes a refusal or block for the security event log (`securechat admin blocks`);
    /// never waits.
    pub fn security_event(
        &self,
        kind: SecurityKind,
        ip: Option<&str>,
        user: Option<UserId>,
        login: Option<&str>,
    ) {
        self.inner.security_log.note(kind, ip, user, login);
    }

    /// Lifts every limit of an address here (an operator's unblock, read from the store):
    /// failed logins and delays, registrations, recovery requests.
    pub fn unblock_ip(&self, ip: &str) {
        self.login_guard().unblock_ip(ip);
        self.registration_limits().0.reset(ip);
        self.recovery_limits().0.reset(ip);
    }

    /// Lifts the failed-login limits of an account here (an operator's unblock).
    pub fn unblock_account(&self, user: UserId) {
        self.login_guard().unblock_account(&user.to_string());
    }

    /// Counts another node's limit event as if it happened here.
    pub fn count_limit_event(&self, word: &LimitWord) {
        match word {
            LimitWord::LoginFailed {
                known_source,
                ip,
                account,
            } => self.login_guard().failed(&Attempt {
                ip,
                account,
                known_source: *known_source,
            }),
            LimitWord::LoginSucceeded {
                known_source,
                ip,
                account,
            } => self.login_guard().succeeded(&Attempt {
                ip,
                account,
                known_source: *known_source,
            }),
            LimitWord::LoginForgiven {
                known_source,
                ip,
                account,
            } => self.login_guard().forgiven(&Attempt {
                ip,
                account,
                known_source: *known_source,
            }),
            LimitWord::PasswordCheckFailed { account } => {
                self.login_guard().account().record_failure(account);
            }
            LimitWord::PasswordCheckForgiven { account } => {
                self.login_guard().account().forgive(account);
            }
            LimitWord::Registered { ip } => {
                let (per_ip, global) = self.registration_limits();
                per_ip.record_failure(ip);
                global.record_failure("");
            }
        }
    }

    pub fn delivery(&self) -> &Delivery {
        &self.inner.delivery
    }
    pub fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }
    pub fn budgets(&self) -> &Arc<Budgets> {
        &self.inner.budgets
    }
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }

    /// Stops the real-time side in order (see `crate::lifecycle`): no more frames taken,
    /// every frame taken answered, every WebSocket closed with 1012, background tasks ended.
    pub async fn drain(&self) {
        let lifecycle = self.lifecycle();
        lifecycle.stopping.cancel();
        self.delivery().flush().await;
        lifecycle.drained.cancel();
        lifecycle.sockets.close();
        if tokio::time::timeout(SOCKET_GRACE, lifecycle.sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = lifecycle.sockets.len(),
                "WebSockets still open after the grace period; closing anyway"
            );
        }
        self.cluster().leave(self.store()).await;
        lifecycle.tasks.cancel();
    }

    /// Waits for a turn to stream an upload; the turn ends when the permit drops.
    pub async fn upload_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.inner
            .uploads
            .acquire()
            .await
            .map_err(ApiError::internal)
    }

    /// Deletes an account (through the delivery worker, so its messages leave every stream in
    /// order), ends its sessions everywhere and drops its files' bytes. The work runs in a
    /// task of its own: a request dropped meanwhile does not leave it half done.
    pub async fn delete_account(&self, user: UserId) -> Result<AccountRemoval, ApiError> {
        let state = self.clone();
        let work = tokio::spawn(async move {
            let (done, result) = tokio::sync::oneshot::channel();
            state
                .delivery()
                .submit(Job::RemoveAccount { user, done })
                .await
                .map_err(|_| ApiError::fault("the delivery task has stopped"))?;
            let removal = result
                .await
                .map_err(|_| ApiError::fault("the delivery task dropped an account deletion"))??;
            state
                .inner
                .known_users
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&user);
            state.revoke_sessions(&removal.sessions, Revocation::AccountDeleted);
            for file in &removal.files {
                state.blobs().remove(file).await;
            }
            Ok(removal)
        });
        work.await
            .map_err(|e| ApiError::fault(format!("the account deletion task failed: {e}")))?
    }

    /// Whether a live (not deleted) user exists: from memory once seen, else asked of the
    /// store.
    pub async fn user_exists(&self, user: UserId) -> Result<bool, StoreError> {
        let known = self
            .inner
            .known_users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&user);
        if known {
            return Ok(true);
        }
        let exists = self
            .store()
            .get_user(user)
            .await?
            .is_some_and(|u| u.deleted_at.is_none());
        if exists {
            self.inner
                .known_users
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(user);
        }
        Ok(exists)
    }
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}
