//! Background jobs: the session sweeper (the paper's "force logout of expired tokens"),
//! self-destruct expiry, unreferenced-file cleanup and pruning of in-memory counters.

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
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = sweep_tick.tick() => sweep(&state).await,
                _ = expiry_tick.tick() => expire(&state),
            }
        }
    })
}

/// Asks the delivery task to remove messages whose self-destruct time has come (it owns
/// every write to users' streams, which keeps their events in order).
pub fn expire(state: &AppState) {
    state.delivery().offer(Job::Expire);
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

/// One sweep: delete expired and revoked sessions, forget stale failure counters.
pub async fn sweep(state: &AppState) {
    match state.store().delete_dead_sessions(now_ms()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "swept expired and revoked sessions"),
        Err(e) => tracing::error!(error = %e, "session sweep failed"),
    }
    sweep_files(state).await;
    state.login_guard().prune();
    let (per_ip, global) = state.registration_limits();
    per_ip.prune();
    global.prune();
    state.sessions().prune();
}
