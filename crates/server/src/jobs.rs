//! Background jobs: the session sweeper (the paper's "force logout of expired tokens"),
//! self-destruct expiry, unreferenced-file cleanup, pruning of old codes and security events
//! and of in-memory counters.
//!
//! In a cluster the database's jobs run on one node at a time, the one holding the store's
//! background-work lock (`Cluster::lead`); their effects reach every node's sessions as
//! stream events. Each job is also safe to run twice, so a lock briefly held by two nodes
//! (one of them dying) does no harm.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::realtime::work::Job;
use crate::state::AppState;

/// Starts the jobs; they end when `stop` is cancelled.
pub fn spawn(state: AppState, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweep_tick = tokio::time::interval(state.settings().sweep_interval);
        let mut expiry_tick = tokio::time::interval(state.settings().expiry_interval);
        expiry_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leader = Leadership::default();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = sweep_tick.tick() => {
                    if leader.leads(&state).await {
                        sweep(&state).await;
                    } else {
                        prune(&state);
                    }
                }
                _ = expiry_tick.tick() => {
                    if leader.leads(&state).await {
                        expire(&state);
                    }
                }
            }
        }
    })
}

/// Asks the delivery task to remove messages whose self-destruct time has come (it owns
/// every write to users' streams, which keeps their events in order).
pub fn expire(state: &AppState) {
    state.delivery().offer(Job::Expire);
}

/// Removes every message whose self-destruct time has passed, and waits until it is done:
/// run before the listener accepts anything, so that a server started after a while (or on
/// a restored backup) serves nothing that expired meanwhile, not even for one interval.
pub async fn expire_before_serving(state: &AppState) {
    if state.delivery().submit(Job::Expire).await.is_ok() {
        state.delivery().flush().await;
    }
}

/// Deletes files no message took within the configured time.
async fn sweep_files(state: &AppState) {
    let ttl = i64::try_from(state.settings().unreferenced_file_ttl.as_millis()).unwrap_or(i64::MAX);
    match state
        .store()
        .take_unreferenced_files(now_ms().saturating_sub(ttl))
        .await
    {
        Ok(files) => {
            for file in &files {
                state.blobs().remove(file).await;
            }
            if !files.is_empty() {
                tracing::info!(files = files.len(), "swept files no message referenced");
            }
        }
        Err(e) => tracing::error!(error = %e, "file sweep failed"),
    }
}

/// How often a node asks whether it leads (PostgreSQL: a connection attempt when it does not).
const LEAD_CHECK: Duration = Duration::from_secs(2);
/// Revoked sessions are kept this long so that every server process's poll sees them
/// (`crate::cluster::poll`: other nodes, and a single node for what `securechat admin`
/// revoked).
const REVOCATION_NOTICE_MS: i64 = 60_000;
/// How long security events stay listed (`securechat admin blocks`).
const SECURITY_EVENTS_KEPT_MS: i64 = 30 * 24 * 3600 * 1000;

/// Whether this node runs the database's jobs, asked of the store every `LEAD_CHECK` (the
/// scheduled backup asks it too).
#[derive(Default)]
pub struct Leadership {
    leading: bool,
    checked: Option<Instant>,
}

impl Leadership {
    /// Whether this node leads (always, outside a cluster).
    pub async fn leads(&mut self, state: &AppState) -> bool {
        if state.cluster().node_id().is_none() {
            return true;
        }
        if self.checked.is_none_or(|at| at.elapsed() >= LEAD_CHECK) {
            self.checked = Some(Instant::now());
            let leading = match state.store().lead().await {
                Ok(leading) => leading,
                Err(e) => {
                    tracing::warn!(error = %e, "could not ask for the jobs lock");
                    false
                }
            };
            if leading != self.leading {
                tracing::info!(leading, "background jobs leadership changed");
            }
            self.leading = leading;
        }
        self.leading
    }
}

/// Forgets stale in-memory counters (every node's own).
fn prune(state: &AppState) {
    state.login_guard().prune();
    let (per_ip, global) = state.registration_limits();
    per_ip.prune();
    global.prune();
    let (recovery, mails) = state.recovery_limits();
    recovery.prune();
    mails.prune();
    state.sessions().prune();
}

/// How long used and expired invitations and reset codes stay listed (`admin invites`).
const DEAD_CODES_KEPT_MS: i64 = 30 * 24 * 3600 * 1000;

/// One sweep: delete expired and revoked sessions, old codes and security events,
/// unreferenced files; forget stale failure counters.
pub async fn sweep(state: &AppState) {
    let now = now_ms();
    match state
        .store()
        .delete_dead_sessions(now, now - REVOCATION_NOTICE_MS)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "swept expired and revoked sessions"),
        Err(e) => tracing::error!(error = %e, "session sweep failed"),
    }
    sweep_files(state).await;
    match state
        .store()
        .delete_dead_codes(now_ms() - DEAD_CODES_KEPT_MS)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            codes = n,
            "swept used and expired invitations and reset codes"
        ),
        Err(e) => tracing::error!(error = %e, "code sweep failed"),
    }
    match state
        .store()
        .delete_security_events(now_ms() - SECURITY_EVENTS_KEPT_MS)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(events = n, "swept old security events"),
        Err(e) => tracing::error!(error = %e, "security event sweep failed"),
    }
    prune(state);
}
