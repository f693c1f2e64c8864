//! The Redis side: one task publishes this node's words (pipelined, in order), one keeps a
//! subscription to the presence and revocation channels and to the channel of every user
//! connected here, and hands what it hears to the hub. Both reconnect by themselves; while
//! Redis is away words are dropped (counted) and the database poll delivers instead.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use securechat_proto::ids::UserId;
use securechat_proto::ws::WsErrorCode;

use super::presence::Follow;
use super::wire::{self, PresenceWord};
use super::Node;
use crate::metrics::{
    CLUSTER_DROPPED, CLUSTER_PUBLISHED, CLUSTER_RECEIVED, CLUSTER_REDIS_UP, CLUSTER_REJECTED,
};
use crate::realtime::frames::Outbound;
use crate::state::AppState;

/// Longest wait for Redis to answer a connect or a command.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Most words sent in one pipeline.
const PIPELINE: usize = 512;
/// Channels subscribed per SUBSCRIBE command.
const SUBSCRIBE_CHUNK: usize = 1000;

/// A word for a channel.
pub struct Word {
    pub channel: String,
    pub payload: String,
}

/// Whether publishing and the subscription work.
#[derive(Default)]
pub struct BusHealth {
    publishing: AtomicBool,
    subscribed: AtomicBool,
}

impl BusHealth {
    pub fn up(&self) -> bool {
        self.publishing.load(Ordering::Relaxed) && self.subscribed.load(Ordering::Relaxed)
    }

    fn set(&self, flag: &AtomicBool, up: bool) {
        flag.store(up, Ordering::Relaxed);
        metrics::gauge!(CLUSTER_REDIS_UP).set(if self.up() { 1.0 } else { 0.0 });
    }
}

/// Publishes words in the order given, pipelining what has queued up.
pub async fn publisher(node: Arc<Node>, mut words: mpsc::Receiver<Word>, stop: CancellationToken) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut batch = Vec::with_capacity(PIPELINE);
    // Optimistic until a failure says otherwise.
    node.health.set(&node.health.publishing, true);
    loop {
        let received = tokio::select! {
            n = words.recv_many(&mut batch, PIPELINE) => n,
            () = stop.cancelled() => 0,
        };
        if received == 0 {
            return;
        }
        if conn.is_none() && Instant::now() >= retry_at {
            match tokio::time::timeout(
                REDIS_TIMEOUT,
                node.settings.redis.get_multiplexed_async_connection(),
            )
            .await
            {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    backoff = Duration::from_millis(100);
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot connect to Redis to publish"),
                Err(_) => tracing::warn!("connecting to Redis to publish timed out"),
            }
            if conn.is_none() {
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        let Some(c) = conn.as_mut() else {
            node.health.set(&node.health.publishing, false);
            metrics::counter!(CLUSTER_DROPPED).increment(batch.len() as u64);
            batch.clear();
            continue;
        };
        let mut pipe = redis::pipe();
        for word in &batch {
            pipe.publish(&word.channel, &word.payload).ignore();
        }
        match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(c)).await {
            Ok(Ok(())) => {
                node.health.set(&node.health.publishing, true);
                metrics::counter!(CLUSTER_PUBLISHED).increment(batch.len() as u64);
            }
            failed => {
                match failed {
                    Ok(Err(e)) => tracing::warn!(error = %e, "publishing to Redis failed"),
                    _ => tracing::warn!("publishing to Redis timed out"),
                }
                node.health.set(&node.health.publishing, false);
                metrics::counter!(CLUSTER_DROPPED).increment(batch.len() as u64);
                conn = None;
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        batch.clear();
    }
}

/// Keeps the subscription, reconnecting after every loss, until `stop`.
pub async fn subscriber(
    state: AppState,
    node: Arc<Node>,
    mut local: mpsc::UnboundedReceiver<(UserId, usize)>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = tokio::select! {
            r = subscribe_once(&state, &node, &mut local) => r,
            () = stop.cancelled() => return,
        };
        node.health.set(&node.health.subscribed, false);
        match session {
            Ok(lived) if lived > Duration::from_secs(5) => backoff = Duration::from_millis(100),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the Redis subscription failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        // Changes while away need no word of their own: the next subscription starts from
        // the hub's list of everyone connected.
        while local.try_recv().is_ok() {}
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription, from connecting to its loss; returns how long it lived.
async fn subscribe_once(
    state: &AppState,
    node: &Arc<Node>,
    local: &mut mpsc::UnboundedReceiver<(UserId, usize)>,
) -> Result<Duration, redis::RedisError> {
    let pubsub = tokio::time::timeout(REDIS_TIMEOUT, node.settings.redis.get_async_pubsub())
        .await
        .map_err(|_| timed_out("connecting to Redis"))??;
    let started = Instant::now();
    let (mut sink, mut stream) = pubsub.split();
    timed(sink.subscribe(&[wire::PRESENCE, wire::REVOKE, wire::LIMITS])).await?;
    // Everyone connected now; changes from here on come through `local`.
    let mut subscribed: HashSet<UserId> = state
        .hub()
        .local_users()
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    let channels: Vec<String> = subscribed.iter().map(|u| wire::user_channel(*u)).collect();
    for chunk in channels.chunks(SUBSCRIBE_CHUNK) {
        timed(sink.subscribe(chunk)).await?;
    }
    node.health.set(&node.health.subscribed, true);
    tracing::info!(users = subscribed.len(), node = %node.id, "subscribed to Redis");
    // Words may have been missed while away: everyone connected here is tipped at once, and
    // the other nodes are asked for their lists and told ours.
    node.tip_everyone_soon();
    node.publish_presence(&PresenceWord::Query {
        node: node.id.clone(),
        target: "*".to_owned(),
    });
    node.publish_presence(&snapshot(state, node));

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { break };
                heard(state, node, &message);
            }
            change = local.recv() => {
                let Some(first) = change else { break };
                let mut changes = vec![first];
                while let Ok(more) = local.try_recv() {
                    changes.push(more);
                }
                follow_local(node, &mut sink, &mut subscribed, changes).await?;
            }
            _ = tick.tick() => {
                node.publish_presence(&PresenceWord::Heartbeat {
                    node: node.id.clone(),
                    digest: local_digest(state),
                });
                node.presence.expire(state.hub());
                // A subscription can die with its socket still open: ask.
                if let Err(e) = timed(sink.ping::<redis::Value>()).await {
                    tracing::warn!(error = %e, "Redis did not answer a ping; reconnecting");
                    break;
                }
            }
        }
    }
    Ok(started.elapsed())
}

/// Subscribes to the channels of users who came here, unsubscribes from those who left,
/// and tells the other nodes.
async fn follow_local(
    node: &Node,
    sink: &mut redis::aio::PubSubSink,
    subscribed: &mut HashSet<UserId>,
    changes: Vec<(UserId, usize)>,
) -> Result<(), redis::RedisError> {
    // The hub sends each change under its lock, so the last count of a user is current.
    let mut last = HashMap::new();
    for (user, here) in changes {
        last.insert(user, here);
    }
    let joined: Vec<UserId> = last
        .iter()
        .filter(|(u, here)| **here > 0 && !subscribed.contains(*u))
        .map(|(u, _)| *u)
        .collect();
    let left: Vec<UserId> = last
        .iter()
        .filter(|(u, here)| **here == 0 && subscribed.contains(*u))
        .map(|(u, _)| *u)
        .collect();
    let channels = |users: &[UserId]| -> Vec<String> {
        users.iter().map(|u| wire::user_channel(*u)).collect()
    };
    for chunk in channels(&joined).chunks(SUBSCRIBE_CHUNK) {
        timed(sink.subscribe(chunk)).await?;
    }
    for chunk in channels(&left).chunks(SUBSCRIBE_CHUNK) {
        timed(sink.unsubscribe(chunk)).await?;
    }
    for user in &left {
        subscribed.remove(user);
    }
    for user in joined {
        subscribed.insert(user);
        // Subscribed only now: what was published for this user before is read from the
        // store by a tip (the replay of the new connection may have ended earlier).
        node.tip_soon(user);
    }
    for (user, here) in last {
        node.publish_presence(&PresenceWord::Changed {
            node: node.id.clone(),
            user,
            connections: u32::try_from(here).unwrap_or(u32::MAX),
        });
    }
    Ok(())
}

/// The digest of this node's list, for its heartbeat.
fn local_digest(state: &AppState) -> u64 {
    wire::presence_digest(
        state
            .hub()
            .local_users()
            .into_iter()
            .map(|(u, n)| (u, u32::try_from(n).unwrap_or(u32::MAX))),
    )
}

/// Handles one message.
fn heard(state: &AppState, node: &Node, message: &redis::Msg) -> Option<()> {
    let channel = message.get_channel_name();
    let sealed = std::str::from_utf8(message.get_payload_bytes()).ok()?;
    let Some(payload) = node.key.open(channel, sealed) else {
        metrics::counter!(CLUSTER_REJECTED).increment(1);
        tracing::warn!(
            channel,
            "dropped a word without a valid tag (another cluster, or forged)"
        );
        return None;
    };
    if let Some(user) = wire::channel_user(channel) {
        metrics::counter!(CLUSTER_RECEIVED, "kind" => "user").increment(1);
        let (from, place, frame) = wire::parse_user_word(payload)?;
        if from != node.id {
            let frame = Outbound {
                place,
                text: frame.to_owned().into(),
            };
            state.hub().send_to_user(user, &frame, None);
        }
        return None;
    }
    if channel == wire::PRESENCE {
        metrics::counter!(CLUSTER_RECEIVED, "kind" => "presence").increment(1);
        let word = PresenceWord::parse(payload)?;
        match node.presence.apply(word, state.hub()) {
            Follow::Nothing => {}
            Follow::Query(target) => node.publish_presence(&PresenceWord::Query {
                node: node.id.clone(),
                target,
            }),
            Follow::SendSnapshot => node.publish_presence(&snapshot(state, node)),
        }
        return None;
    }
    if channel == wire::LIMITS {
        metrics::counter!(CLUSTER_RECEIVED, "kind" => "limits").increment(1);
        let (from, word) = wire::LimitWord::parse(payload)?;
        if from != node.id {
            state.count_limit_event(&word);
        }
        return None;
    }
    if channel == wire::REVOKE {
        metrics::counter!(CLUSTER_RECEIVED, "kind" => "revoke").increment(1);
        let (from, why, sessions) = wire::parse_revoke_word(payload)?;
        if from != node.id {
            state.sessions().forget(&sessions);
            state
                .hub()
                .close_sessions(&sessions, WsErrorCode::SessionRevoked, why.message());
        }
    }
    None
}

fn snapshot(state: &AppState, node: &Node) -> PresenceWord {
    PresenceWord::Snapshot {
        node: node.id.clone(),
        users: state
            .hub()
            .local_users()
            .into_iter()
            .map(|(u, n)| (u, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect(),
    }
}

async fn timed<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    tokio::time::timeout(REDIS_TIMEOUT, call)
        .await
        .map_err(|_| timed_out("a Redis command"))?
}

fn timed_out(what: &str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} timed out"),
    ))
}
