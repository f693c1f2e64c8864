//! Several nodes on one PostgreSQL database, with Redis carrying word between them.
//!
//! The database holds the truth (every message, its `seq` in each stream, every session);
//! Redis carries hints, published only after the commit they describe:
//! - each stream event of a user connected to other nodes (as presence tells) goes to the
//!   channel of that user, heard by the nodes where the user is connected (`bus`);
//! - presence, revocations and the events of limits a client could dodge by changing node
//!   (failed logins, registrations) go to channels every node hears (`presence`, `wire`).
//!
//! Nothing is lost when a hint is: each connection keeps its stream gap-free, reading from
//! the store what it did not hear of (`crate::realtime::connection`), and every node polls
//! the database each `poll_interval` for the stream ends of its users and for revoked
//! sessions (`poll`, which a single node runs too, for what `securechat admin` writes), so
//! delivery goes on within about two intervals while Redis is away.
//! Nodes must agree on the settings that make them interchangeable; a node whose settings
//! differ from the running ones refuses to start (`agreement`).

pub mod agreement;
pub mod bus;
pub mod poll;
pub mod presence;
pub mod seal;
pub mod wire;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};

use securechat_proto::ids::{SessionId, UserId};

use crate::metrics::CLUSTER_DROPPED;
use crate::realtime::frames::Outbound;
use crate::settings::ClusterSettings;
use crate::state::AppState;
use bus::{BusHealth, Word};
use presence::RemotePresence;
use seal::WordKey;
use wire::{LimitWord, PresenceWord, Revocation};

/// Words waiting for the publisher; past this they are dropped (the poll covers them).
const WORD_QUEUE: usize = 65_536;

/// This node's part in a cluster, or nothing for a single node. Cheap to clone.
#[derive(Clone, Default)]
pub struct Cluster {
    node: Option<Arc<Node>>,
}

/// This node, in a cluster.
pub struct Node {
    /// Fresh at every start.
    pub id: String,
    pub settings: ClusterSettings,
    words: mpsc::Sender<Word>,
    pub health: BusHealth,
    presence: RemotePresence,
    /// Asks the poll to tip `urgent` now, without waiting for its interval.
    poll_now: Notify,
    urgent: Mutex<Urgent>,
    /// Tags and checks words.
    key: WordKey,
    /// Digests of the settings nodes must share (JSON object).
    digests: String,
}

/// Tips the poll owes at once: to users just subscribed, or to everyone (after a
/// reconnection to Redis).
#[derive(Default)]
struct Urgent {
    everyone: bool,
    users: HashSet<UserId>,
}

/// The tasks a cluster node runs, started once the state exists.
pub struct Tasks {
    node: Arc<Node>,
    words: mpsc::Receiver<Word>,
    local: mpsc::UnboundedReceiver<(UserId, usize)>,
}

impl Cluster {
    /// A node of the cluster `settings` describe, with its receivers for `Tasks::spawn`.
    pub fn new(
        settings: ClusterSettings,
        digests: String,
        key: WordKey,
    ) -> (Self, Tasks, mpsc::UnboundedSender<(UserId, usize)>) {
        let (words_tx, words) = mpsc::channel(WORD_QUEUE);
        let (local_tx, local) = mpsc::unbounded_channel();
        let id = format!("n-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let node = Arc::new(Node {
            presence: RemotePresence::new(id.clone(), settings.node_timeout),
            id,
            settings,
            words: words_tx,
            health: BusHealth::default(),
            poll_now: Notify::new(),
            urgent: Mutex::default(),
            key,
            digests,
        });
        (
            Self {
                node: Some(node.clone()),
            },
            Tasks { node, words, local },
            local_tx,
        )
    }

    /// This node's id, in a cluster.
    pub fn node_id(&self) -> Option<&str> {
        self.node.as_deref().map(|n| n.id.as_str())
    }

    /// `Some(up)` in a cluster: whether Redis carries this node's words both ways.
    pub fn redis_up(&self) -> Option<bool> {
        self.node.as_deref().map(|n| n.health.up())
    }

    /// Tells the other nodes' sessions of `user` about a frame already sent to the sessions
    /// here (a stream event, or a frame outside the stream). Call after the commit.
    pub fn publish_frame(&self, user: UserId, frame: &Outbound) {
        let Some(node) = &self.node else { return };
        if let Some(payload) = wire::user_word(&node.id, frame.place, frame.text.as_str()) {
            node.publish(wire::user_channel(user), payload);
        }
    }

    /// Tells the other nodes to close the sockets of revoked sessions and forget them.
    pub fn publish_revocation(&self, why: Revocation, sessions: &[SessionId]) {
        let Some(node) = &self.node else { return };
        if !sessions.is_empty() {
            node.publish(
                wire::REVOKE.to_owned(),
                wire::revoke_word(&node.id, why, sessions),
            );
        }
    }

    /// Tells the other nodes of an event a limit counts (they count it too).
    pub fn publish_limit(&self, word: &LimitWord) {
        let Some(node) = &self.node else { return };
        node.publish(wire::LIMITS.to_owned(), word.encode(&node.id));
    }

    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        self.node.as_ref()
    }
}

impl Node {
    fn publish(&self, channel: String, payload: String) {
        let payload = self.key.seal(&channel, &payload);
        if self.words.try_send(Word { channel, payload }).is_err() {
            metrics::counter!(CLUSTER_DROPPED).increment(1);
        }
    }

    fn publish_presence(&self, word: &PresenceWord) {
        self.publish(wire::PRESENCE.to_owned(), word.encode());
    }

    /// Has the poll tip `user` at once (just subscribed: words published before were not
    /// heard here).
    fn tip_soon(&self, user: UserId) {
        self.lock_urgent().users.insert(user);
        self.poll_now.notify_one();
    }

    /// Has the poll tip everyone at once (after a reconnection to Redis).
    fn tip_everyone_soon(&self) {
        self.lock_urgent().everyone = true;
        self.poll_now.notify_one();
    }

    fn lock_urgent(&self) -> std::sync::MutexGuard<'_, Urgent> {
        self.urgent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Tasks {
    /// Starts the publisher, the subscriber and the poll; they end with the server's tasks.
    pub fn spawn(self, state: &AppState) {
        let stop = state.lifecycle().tasks.clone();
        tokio::spawn(bus::publisher(self.node.clone(), self.words, stop.clone()));
        tokio::spawn(bus::subscriber(
            state.clone(),
            self.node.clone(),
            self.local,
            stop.clone(),
        ));
        tokio::spawn(poll::run(state.clone(), Some(self.node), stop));
    }
}
