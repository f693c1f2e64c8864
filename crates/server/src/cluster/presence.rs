//! Who is connected to the other nodes, as their words tell it: each node's users with
//! their connection counts, and when the node was last heard from. A node silent for longer
//! than the timeout is taken for dead and its users go offline (unless connected elsewhere).
//! The totals per user are kept in the hub, which answers "is online" and enforces the
//! per-user connection cap across nodes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use securechat_proto::ids::UserId;

use super::wire::{presence_digest, PresenceWord};
use crate::metrics::CLUSTER_NODES;
use crate::realtime::hub::Hub;

struct NodeView {
    seen: Instant,
    users: HashMap<UserId, u32>,
}

/// The other nodes' users.
pub struct RemotePresence {
    me: String,
    timeout: Duration,
    nodes: Mutex<HashMap<String, NodeView>>,
}

/// What the caller should do after a word.
#[derive(Debug, PartialEq, Eq)]
pub enum Follow {
    Nothing,
    /// Ask this node for its full list (a node we did not know, or whose digest disagrees
    /// with our view of it: words were lost).
    Query(String),
    /// Send our full list (someone asked).
    SendSnapshot,
}

impl RemotePresence {
    pub fn new(me: String, timeout: Duration) -> Self {
        Self {
            me,
            timeout,
            nodes: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, NodeView>> {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies a word from the presence channel; the hub's totals follow.
    pub fn apply(&self, word: PresenceWord, hub: &Hub) -> Follow {
        let node = match &word {
            PresenceWord::Changed { node, .. }
            | PresenceWord::Heartbeat { node, .. }
            | PresenceWord::Snapshot { node, .. }
            | PresenceWord::Query { node, .. } => node.clone(),
        };
        if node == self.me {
            return Follow::Nothing;
        }
        let mut nodes = self.lock();
        let known = nodes.contains_key(&node);
        let view = nodes.entry(node.clone()).or_insert_with(|| NodeView {
            seen: Instant::now(),
            users: HashMap::new(),
        });
        view.seen = Instant::now();
        let mut touched = Vec::new();
        let follow = match word {
            PresenceWord::Changed {
                user, connections, ..
            } => {
                if connections == 0 {
                    view.users.remove(&user);
                } else {
                    view.users.insert(user, connections);
                }
                touched.push(user);
                Follow::Nothing
            }
            PresenceWord::Heartbeat { digest, .. } => {
                let ours = presence_digest(view.users.iter().map(|(u, n)| (*u, *n)));
                if !known || digest != ours {
                    Follow::Query(node)
                } else {
                    Follow::Nothing
                }
            }
            PresenceWord::Snapshot { users, .. } => {
                let fresh: HashMap<UserId, u32> =
                    users.into_iter().filter(|(_, n)| *n > 0).collect();
                touched.extend(view.users.keys().copied());
                touched.extend(fresh.keys().copied());
                view.users = fresh;
                Follow::Nothing
            }
            PresenceWord::Query { target, .. } if target == "*" || target == self.me => {
                Follow::SendSnapshot
            }
            PresenceWord::Query { .. } => Follow::Nothing,
        };
        #[allow(clippy::cast_precision_loss)] // a handful of nodes
        metrics::gauge!(CLUSTER_NODES).set(nodes.len() as f64);
        update(&nodes, &touched, hub);
        follow
    }

    /// Forgets nodes not heard from within the timeout; returns their ids.
    pub fn expire(&self, hub: &Hub) -> Vec<String> {
        let mut nodes = self.lock();
        let dead: Vec<String> = nodes
            .iter()
            .filter(|(_, v)| v.seen.elapsed() > self.timeout)
            .map(|(id, _)| id.clone())
            .collect();
        let mut touched = Vec::new();
        for id in &dead {
            if let Some(view) = nodes.remove(id) {
                touched.extend(view.users.into_keys());
            }
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(CLUSTER_NODES).set(nodes.len() as f64);
        update(&nodes, &touched, hub);
        dead
    }
}

/// Sets the hub's remote totals of `users` from the node views.
fn update(nodes: &HashMap<String, NodeView>, users: &[UserId], hub: &Hub) {
    for user in users {
        let total = nodes
            .values()
            .filter_map(|v| v.users.get(user))
            .fold(0u32, |a, n| a.saturating_add(*n));
        hub.set_remote_connections(*user, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_users_follow_words_and_leave_with_a_silent_node() {
        let hub = Hub::default();
        let presence = RemotePresence::new("me".into(), Duration::from_millis(50));
        let (a, b) = (UserId::generate(), UserId::generate());
        let follow = presence.apply(
            PresenceWord::Heartbeat {
                node: "n1".into(),
                digest: 0,
            },
            &hub,
        );
        assert_eq!(
            follow,
            Follow::Query("n1".into()),
            "an unknown node is asked for its list"
        );
        presence.apply(
            PresenceWord::Snapshot {
                node: "n1".into(),
                users: vec![(a, 2)],
            },
            &hub,
        );
        presence.apply(
            PresenceWord::Changed {
                node: "n2".into(),
                user: a,
                connections: 1,
            },
            &hub,
        );
        presence.apply(
            PresenceWord::Changed {
                node: "n2".into(),
                user: b,
                connections: 1,
            },
            &hub,
        );
        assert_eq!(hub.remote_connections(a), 3);
        assert!(hub.is_online(b));
        let heartbeat = |users: &[(UserId, u32)]| PresenceWord::Heartbeat {
            node: "n1".into(),
            digest: presence_digest(users.iter().copied()),
        };
        assert_eq!(presence.apply(heartbeat(&[(a, 2)]), &hub), Follow::Nothing);
        assert_eq!(
            presence.apply(heartbeat(&[(a, 1)]), &hub),
            Follow::Query("n1".into()),
            "the same count of users with another count of connections is noticed"
        );
        let query = |target: &str| PresenceWord::Query {
            node: "n2".into(),
            target: target.into(),
        };
        assert_eq!(presence.apply(query("*"), &hub), Follow::SendSnapshot);
        assert_eq!(presence.apply(query("me"), &hub), Follow::SendSnapshot);
        assert_eq!(presence.apply(query("n1"), &hub), Follow::Nothing);
        assert_eq!(
            presence.apply(
                PresenceWord::Query {
                    node: "me".into(),
                    target: "*".into()
                },
                &hub
            ),
            Follow::Nothing,
            "our own words are ignored"
        );
        presence.apply(
            PresenceWord::Changed {
                node: "n2".into(),
                user: b,
                connections: 0,
            },
            &hub,
        );
        assert!(!hub.is_online(b));
        std::thread::sleep(Duration::from_millis(80));
        presence.apply(
            PresenceWord::Heartbeat {
                node: "n2".into(),
                digest: 0,
            },
            &hub,
        );
        assert_eq!(presence.expire(&hub), vec!["n1".to_owned()]);
        assert_eq!(hub.remote_connections(a), 1, "n2's connection remains");
    }
}
