//! The database poll: what keeps a cluster correct when Redis word is late or lost. Every
//! interval a node reads the stream ends of the users connected to it and tips their
//! connections (a connection behind its tip reads the missing events from the store), reads
//! the sessions revoked lately and closes their sockets, and notes itself alive in the node
//! registry.
//!
//! While Redis works, tips lag one interval (the stream ends read at the previous poll):
//! events whose word is still on its way are not read twice. While it does not, or when a
//! poll is asked for at once, tips are the ends just read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use securechat_proto::ids::UserId;
use securechat_proto::ws::WsErrorCode;

use super::wire::Revocation;
use super::Node;
use crate::clock::now_ms;
use crate::state::AppState;

/// How often the node registry hears from this node.
pub const REGISTRY_HEARTBEAT: Duration = Duration::from_secs(3);
/// How far back each poll looks for revocations (clocks of nodes differ a little).
const REVOCATION_OVERLAP_MS: i64 = 5_000;

pub async fn run(state: AppState, node: Arc<Node>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(node.settings.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: HashMap<UserId, u64> = HashMap::new();
    let mut revoked_from = now_ms() - REVOCATION_OVERLAP_MS;
    let mut registered = Instant::now();
    loop {
        let urgent = tokio::select! {
            _ = tick.tick() => false,
            () = node.poll_now.notified() => true,
            () = stop.cancelled() => return,
        };
        let lag = node.health.up() && !urgent;
        previous = tip(&state, lag, &previous).await.unwrap_or(previous);
        let started = now_ms();
        match state.store().revoked_since(revoked_from).await {
            Ok(revoked) => {
                let sessions: Vec<_> = revoked.into_iter().map(|(s, _)| s).collect();
                if !sessions.is_empty() {
                    state.sessions().forget(&sessions);
                    state.hub().close_sessions(
                        &sessions,
                        WsErrorCode::SessionRevoked,
                        Revocation::Elsewhere.message(),
                    );
                }
                revoked_from = started - REVOCATION_OVERLAP_MS;
            }
            Err(e) => tracing::warn!(error = %e, "polling revoked sessions failed"),
        }
        if registered.elapsed() >= REGISTRY_HEARTBEAT {
            registered = Instant::now();
            if let Err(e) = state.store().node_heartbeat(&node.record()).await {
                tracing::warn!(error = %e, "noting this node alive in the registry failed");
            }
        }
    }
}

/// Tips every connected user's connections; returns the stream ends read.
async fn tip(
    state: &AppState,
    lag: bool,
    previous: &HashMap<UserId, u64>,
) -> Option<HashMap<UserId, u64>> {
    let users: Vec<UserId> = state
        .hub()
        .local_users()
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    if users.is_empty() {
        return Some(HashMap::new());
    }
    let ends = match state.store().last_seqs(&users).await {
        Ok(ends) => ends,
        Err(e) => {
            tracing::warn!(error = %e, "polling stream ends failed");
            return None;
        }
    };
    for (user, end) in &ends {
        let tip = if lag {
            previous.get(user).copied().unwrap_or(0)
        } else {
            *end
        };
        if tip > 0 {
            state.hub().tip(*user, tip);
        }
    }
    Some(ends.into_iter().collect())
}
