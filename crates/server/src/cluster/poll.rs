//! The database poll: what keeps a cluster correct when Redis word is late or lost. Every
//! interval a node reads the stream ends of the users connected to it and tips their
//! connections (a connection behind its tip reads the missing events from the store), reads
//! the sessions revoked lately and closes their sockets, and forgets other nodes it has not
//! heard from (even while its own Redis subscription is down). On a timer of its own it
//! notes itself alive in the node registry.
//!
//! While Redis works, tips lag one interval (the stream ends read at the previous poll):
//! events whose word is still on its way are not read twice. While it does not, tips are the
//! ends just read. A user is tipped only when their end moved since their last tip. Users
//! just subscribed to (and everyone, after a reconnection to Redis) are tipped at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use securechat_proto::ids::UserId;
use securechat_proto::ws::WsErrorCode;

use super::wire::Revocation;
use super::Node;
use crate::clock::now_ms;
use crate::state::AppState;

/// How often the node registry hears from this node.
pub const REGISTRY_HEARTBEAT: Duration = Duration::from_secs(3);
/// How far back each poll looks for revocations: the clocks of nodes (which stamp
/// revocations) may differ a little, and a poll may be late.
const REVOCATION_OVERLAP_MS: i64 = 30_000;

/// The stream ends read, and the tips given, per user.
#[derive(Default)]
struct Tips {
    /// Ends read at the last regular poll.
    previous: HashMap<UserId, u64>,
    /// The last tip given to each user's connections.
    given: HashMap<UserId, u64>,
}

pub async fn run(state: AppState, node: Arc<Node>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(node.settings.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut registry = tokio::time::interval(REGISTRY_HEARTBEAT);
    registry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tips = Tips::default();
    let mut revoked_from = now_ms() - REVOCATION_OVERLAP_MS;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = node.poll_now.notified() => {
                let urgent = std::mem::take(&mut *node.lock_urgent());
                let users = if urgent.everyone {
                    local_users(&state)
                } else {
                    urgent.users.into_iter().collect()
                };
                tip(&state, &users, None, &mut tips).await;
                continue;
            }
            _ = registry.tick() => {
                if let Err(e) = state.store().node_heartbeat(&node.record()).await {
                    tracing::warn!(error = %e, "noting this node alive in the registry failed");
                }
                continue;
            }
            () = stop.cancelled() => return,
        }
        node.presence.expire(state.hub());
        let users = local_users(&state);
        let previous = std::mem::take(&mut tips.previous);
        let lagged = node.health.up().then_some(&previous);
        if let Some(ends) = tip(&state, &users, lagged, &mut tips).await {
            // Users no longer connected here are forgotten.
            tips.given.retain(|u, _| ends.contains_key(u));
            tips.previous = ends;
        }
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
    }
}

fn local_users(state: &AppState) -> Vec<UserId> {
    state
        .hub()
        .local_users()
        .into_iter()
        .map(|(u, _)| u)
        .collect()
}

/// Reads the stream ends of `users` and tips their connections: with the ends `lagged`
/// gives (the previous poll's) or, without it, the ends just read. Returns the ends read.
async fn tip(
    state: &AppState,
    users: &[UserId],
    lagged: Option<&HashMap<UserId, u64>>,
    tips: &mut Tips,
) -> Option<HashMap<UserId, u64>> {
    if users.is_empty() {
        tips.given.clear();
        return Some(HashMap::new());
    }
    let ends = match state.store().last_seqs(users).await {
        Ok(ends) => ends,
        Err(e) => {
            tracing::warn!(error = %e, "polling stream ends failed");
            return None;
        }
    };
    for (user, end) in &ends {
        let tip = match lagged {
            Some(previous) => previous.get(user).copied().unwrap_or(0),
            None => *end,
        };
        let given = tips.given.entry(*user).or_insert(0);
        if tip > *given {
            *given = tip;
            state.hub().tip(*user, tip);
        }
    }
    Some(ends.into_iter().collect())
}
