//! Background jobs: the session sweeper (the paper's "force logout of expired tokens") and
//! pruning of the failed-login counters.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::state::AppState;

/// Starts the jobs; they end when `stop` is cancelled.
pub fn spawn(state: AppState, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.settings().sweep_interval);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => sweep(&state).await,
            }
        }
    })
}

/// One sweep: delete expired and revoked sessions, forget stale failure counters.
pub async fn sweep(state: &AppState) {
    match state.store().delete_dead_sessions(now_ms()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "swept expired and revoked sessions"),
        Err(e) => tracing::error!(error = %e, "session sweep failed"),
    }
    state.account_failures().prune();
    state.ip_failures().prune();
    state.sessions().prune();
}
