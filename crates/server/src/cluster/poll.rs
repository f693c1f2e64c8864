//! The database poll: how a server process notices what other processes wrote to its
//! database, on a single node (`securechat admin` revoking sessions, disabling or deleting
//! accounts, lifting blocks) as in a cluster (where it also keeps nodes correct when Redis
//! word is late or lost). Every `Settings::poll_interval` it reads the stream ends of the
//! users connected here and tips their connections (a connection behind its tip reads the
//! missing events from the store, like the `deleted` events of an account removed
//! elsewhere), reads the sessions revoked lately and closes their sockets, and applies the
//! operators' unblocks to the in-memory login limits. In a cluster it also forgets other
//! nodes it has not heard from (even while its own Redis subscription is down) and, on a
//! timer of its own, notes itself alive in the node registry.
//!
//! While Redis works, tips lag one interval (the stream ends read at the previous poll):
//! events whose word is still on its way are not read twice. While it does not, tips are the
//! ends just read. On a single node, where every event this process writes is announced to
//! its connections right after its commit, tips are the ends just read, given a moment
//! (`SETTLE`) later so those announcements come first. A user is tipped only when their end
//! moved since their last tip. Users just subscribed to (and everyone, after a reconnection
//! to Redis) are tipped at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use securechat_proto::ids::UserId;
use securechat_proto::ws::WsErrorCode;
use securechat_store::security::SecurityKind;
use securechat_store::StoreError;

use super::wire::Revocation;
use super::Node;
use crate::clock::now_ms;
use crate::state::AppState;

/// How often the node registry hears from this node.
pub const REGISTRY_HEARTBEAT: Duration = Duration::from_secs(3);
/// How far back each poll looks for revocations and unblocks: the clocks of processes
/// (which stamp them) may differ a little, and a poll may be late.
const OVERLAP_MS: i64 = 30_000;
/// How old a revocation must be before the poll closes its sockets (see `close_revoked`).
const OWN_GRACE_MS: i64 = 500;
/// On a single node, how long after reading the stream ends their tips are given.
const SETTLE: Duration = Duration::from_millis(200);

/// The stream ends read, and the tips given, per user.
#[derive(Default)]
struct Tips {
    /// Ends read at the last regular poll.
    previous: HashMap<UserId, u64>,
    /// The last tip given to each user's connections.
    given: HashMap<UserId, u64>,
}

/// The poll's steps that are failing: each failure run is logged once, and its end.
#[derive(Default)]
struct Failing(HashSet<&'static str>);

impl Failing {
    fn check<T>(&mut self, step: &'static str, result: Result<T, StoreError>) -> Option<T> {
        match result {
            Ok(value) => {
                if self.0.remove(step) {
                    tracing::info!("polling {step} works again");
                }
                Some(value)
            }
            Err(e) => {
                if self.0.insert(step) {
                    tracing::warn!(error = %e, "polling {step} failed (retried every poll)");
                }
                None
            }
        }
    }
}

/// Polls until `stop`; `node` is this process's part in a cluster, if any.
pub async fn run(state: AppState, node: Option<Arc<Node>>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(state.settings().poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut registry = tokio::time::interval(REGISTRY_HEARTBEAT);
    registry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tips = Tips::default();
    let mut failing = Failing::default();
    let started = now_ms();
    let mut revoked_from = started - OVERLAP_MS;
    let mut unblocks = Unblocks::new(started);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = urgent(node.as_deref()) => {
                if let Some(node) = &node {
                    let urgent = std::mem::take(&mut *node.lock_urgent());
                    let users = if urgent.everyone {
                        local_users(&state)
                    } else {
                        urgent.users.into_iter().collect()
                    };
                    tip(&state, &users, None, Duration::ZERO, &mut tips, &mut failing).await;
                }
                continue;
            }
            _ = registry.tick(), if node.is_some() => {
                if let Some(node) = &node {
                    if let Err(e) = state.store().node_heartbeat(&node.record()).await {
                        tracing::warn!(error = %e, "noting this node alive in the registry failed");
                    }
                }
                continue;
            }
            () = stop.cancelled() => return,
        }
        if let Some(node) = &node {
            node.presence.expire(state.hub());
        }
        let users = local_users(&state);
        let previous = std::mem::take(&mut tips.previous);
        let (lagged, settle) = match &node {
            Some(node) => (node.health.up().then_some(&previous), Duration::ZERO),
            None => (None, SETTLE),
        };
        if let Some(ends) = tip(&state, &users, lagged, settle, &mut tips, &mut failing).await {
            // Users no longer connected here are forgotten.
            tips.given.retain(|u, _| ends.contains_key(u));
            tips.previous = ends;
        }
        revoked_from = close_revoked(&state, revoked_from, &mut failing).await;
        unblocks.apply(&state, &mut failing).await;
    }
}

/// Resolves when the cluster asks for tips at once; never on a single node.
async fn urgent(node: Option<&Node>) {
    match node {
        Some(node) => node.poll_now.notified().await,
        None => std::future::pending().await,
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

/// Reads the stream ends of `users` and tips their connections, `settle` after reading:
/// with the ends `lagged` gives (the previous poll's) or, without it, the ends just read.
/// Returns the ends read.
async fn tip(
    state: &AppState,
    users: &[UserId],
    lagged: Option<&HashMap<UserId, u64>>,
    settle: Duration,
    tips: &mut Tips,
    failing: &mut Failing,
) -> Option<HashMap<UserId, u64>> {
    if users.is_empty() {
        tips.given.clear();
        return Some(HashMap::new());
    }
    let ends = failing.check("stream ends", state.store().last_seqs(users).await)?;
    let mut due = Vec::new();
    for (user, end) in &ends {
        let tip = match lagged {
            Some(previous) => previous.get(user).copied().unwrap_or(0),
            None => *end,
        };
        let given = tips.given.entry(*user).or_insert(0);
        if tip > *given {
            *given = tip;
            due.push((*user, tip));
        }
    }
    if !due.is_empty() && !settle.is_zero() {
        tokio::time::sleep(settle).await;
    }
    for (user, tip) in due {
        state.hub().tip(user, tip);
    }
    Some(ends.into_iter().collect())
}

/// Closes the sockets of the sessions revoked since `from` (by any process) and forgets
/// them; returns where the next poll reads from. Sessions revoked less than `OWN_GRACE_MS`
/// ago are left to the next poll: the process that revoked them closes their sockets
/// itself right after its commit, with the reason (a password reset, a deletion), which
/// "signed out elsewhere" must not overtake.
async fn close_revoked(state: &AppState, from: i64, failing: &mut Failing) -> i64 {
    let started = now_ms();
    let Some(revoked) = failing.check("revoked sessions", state.store().revoked_since(from).await)
    else {
        return from;
    };
    let sessions: Vec<_> = revoked
        .into_iter()
        .filter(|(_, at)| *at <= started - OWN_GRACE_MS)
        .map(|(s, _)| s)
        .collect();
    if !sessions.is_empty() {
        state.sessions().forget(&sessions);
        state.hub().close_sessions(
            &sessions,
            WsErrorCode::SessionRevoked,
            Revocation::Elsewhere.message(),
        );
    }
    started - OVERLAP_MS
}

/// The operators' unblocks applied here, by id, over the last `OVERLAP_MS`.
struct Unblocks {
    from: i64,
    applied: HashMap<i64, i64>,
}

impl Unblocks {
    /// Unblocks recorded before `started` are not applied: this process's limits are younger.
    fn new(started: i64) -> Self {
        Self {
            from: started,
            applied: HashMap::new(),
        }
    }

    async fn apply(&mut self, state: &AppState, failing: &mut Failing) {
        let started = now_ms();
        let Some(found) = failing.check("unblocks", state.store().unblocks_since(self.from).await)
        else {
            return;
        };
        for row in found {
            if self.applied.insert(row.id, row.event.at).is_some() {
                continue;
            }
            let event = row.event;
            match (event.kind, event.ip, event.user) {
                (SecurityKind::UnblockIp, Some(ip), _) => {
                    state.unblock_ip(&ip);
                    tracing::info!(%ip, "an operator lifted the login limits of an address");
                }
                (SecurityKind::UnblockAccount, _, Some(user)) => {
                    state.unblock_account(user);
                    tracing::info!(user.id = %user, "an operator lifted the login limits of an account");
                }
                _ => tracing::warn!(id = row.id, "an unblock without its address or account"),
            }
        }
        let keep_from = started - OVERLAP_MS;
        self.applied.retain(|_, at| *at >= keep_from);
        self.from = self.from.max(keep_from);
    }
}
