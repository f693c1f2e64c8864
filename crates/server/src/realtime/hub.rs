//! Who is connected: user → open WebSockets, each with a bounded outbound queue. A user is
//! online while at least one of their connections is registered here or, in a cluster, on
//! another node (as `crate::cluster` reports it).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::ws::{Protocol, ServerEvent, WsErrorCode};

use crate::metrics::WS_CONNECTIONS;
use crate::realtime::frames::{outbound, presence_v1, Outbound};

/// How often gathered presence changes are sent.
pub const PRESENCE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// A connection's id, unique within the process.
pub type ConnId = u64;

/// Ends one connection from outside its task, saying why.
#[derive(Debug, Default)]
pub struct Control {
    pub stop: CancellationToken,
    reason: OnceLock<(WsErrorCode, &'static str)>,
}

impl Control {
    /// Asks the connection to close; the first reason given wins.
    pub fn close(&self, code: WsErrorCode, message: &'static str) {
        let _ = self.reason.set((code, message));
        self.stop.cancel();
    }

    /// The reason given to `close`.
    pub fn reason(&self) -> Option<(WsErrorCode, &'static str)> {
        self.reason.get().copied()
    }
}

struct Conn {
    id: ConnId,
    session: SessionId,
    tx: mpsc::Sender<Outbound>,
    control: Arc<Control>,
    /// The shapes its client reads (presence differs between versions).
    protocol: Protocol,
}

/// The connection registry.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    users: RwLock<HashMap<UserId, Vec<Conn>>>,
    total: Mutex<usize>,
    /// Users whose presence changed since the last `flush_presence`.
    presence_changed: Mutex<HashSet<UserId>>,
    /// Connections of users on other nodes (cluster mode), by user.
    remote: RwLock<HashMap<UserId, u32>>,
    /// Told each user's count of connections here whenever it changes (cluster mode).
    local_changes: OnceLock<mpsc::UnboundedSender<(UserId, usize)>>,
}

/// Registration refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyConnections;

impl Hub {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<UserId, Vec<Conn>>> {
        self.users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, Vec<Conn>>> {
        self.users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count(&self, delta: isize) {
        let mut total = self
            .total
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *total = total.saturating_add_signed(delta);
        #[allow(clippy::cast_precision_loss)] // connection counts are far below 2^52
        metrics::gauge!(WS_CONNECTIONS).set(*total as f64);
    }

    /// Registers a connection. Returns its id and whether the user just came online (then
    /// noted for the next presence event).
    pub fn register(
        &self,
        user: UserId,
        session: SessionId,
        tx: mpsc::Sender<Outbound>,
        control: Arc<Control>,
        protocol: Protocol,
        max_per_user: usize,
    ) -> Result<(ConnId, bool), TooManyConnections> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let elsewhere = self.remote_connections(user) as usize;
        let mut users = self.write();
        let conns = users.entry(user).or_default();
        if conns.len() + elsewhere >= max_per_user {
            if conns.is_empty() {
                users.remove(&user);
            }
            return Err(TooManyConnections);
        }
        let came_online = conns.is_empty();
        conns.push(Conn {
            id,
            session,
            tx,
            control,
            protocol,
        });
        // Told under the lock, so the counts of one user are told in the order they changed.
        self.local_changed(user, conns.len());
        drop(users);
        self.count(1);
        if came_online {
            self.presence_changed(user);
        }
        Ok((id, came_online))
    }

    /// Removes a connection; true when the user just went offline (then noted for the next
    /// presence event).
    pub fn unregister(&self, user: UserId, conn: ConnId) -> bool {
        let mut users = self.write();
        let Some(conns) = users.get_mut(&user) else {
            return false;
        };
        let before = conns.len();
        conns.retain(|c| c.id != conn);
        let removed = conns.len() < before;
        let went_offline = conns.is_empty();
        if removed {
            self.local_changed(user, conns.len());
        }
        if went_offline {
            users.remove(&user);
        }
        drop(users);
        if removed {
            self.count(-1);
        }
        if removed && went_offline {
            self.presence_changed(user);
        }
        removed && went_offline
    }

    /// Whether the user has an open connection, here or on another node.
    pub fn is_online(&self, user: UserId) -> bool {
        self.read().contains_key(&user) || self.remote_connections(user) > 0
    }

    /// Sends every change of a user's connection count here to `changes` (cluster mode).
    pub fn watch_local(&self, changes: mpsc::UnboundedSender<(UserId, usize)>) {
        let _ = self.local_changes.set(changes);
    }

    fn local_changed(&self, user: UserId, here: usize) {
        if let Some(changes) = self.local_changes.get() {
            let _ = changes.send((user, here));
        }
    }

    /// The users connected here, with their connection counts.
    pub fn local_users(&self) -> Vec<(UserId, usize)> {
        self.read().iter().map(|(u, c)| (*u, c.len())).collect()
    }

    /// How many connections `user` has on other nodes.
    pub fn remote_connections(&self, user: UserId) -> u32 {
        self.remote
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user)
            .copied()
            .unwrap_or(0)
    }

    /// Records how many connections `user` has on other nodes; a change of their presence
    /// is noted for the next presence event.
    pub fn set_remote_connections(&self, user: UserId, conns: u32) {
        let was_online = self.is_online(user);
        {
            let mut remote = self
                .remote
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if conns == 0 {
                remote.remove(&user);
            } else {
                remote.insert(user, conns);
            }
        }
        if self.is_online(user) != was_online {
            self.presence_changed(user);
        }
    }

    /// Tells every connection of `user` that their stream reaches `seq`; a connection
    /// behind it reads what it missed from the store. A full queue is left alone (it has
    /// events coming, and its next one shows any gap).
    pub fn tip(&self, user: UserId, seq: u64) {
        let users = self.read();
        if let Some(conns) = users.get(&user) {
            let tip = Outbound::tip(seq);
            for conn in conns {
                let _ = conn.tx.try_send(tip.clone());
            }
        }
    }

    /// Queues a frame on every connection of `user` but `except`. A connection whose queue
    /// is full is a slow reader: it is closed rather than buffered without bound.
    pub fn send_to_user(&self, user: UserId, frame: &Outbound, except: Option<ConnId>) -> usize {
        self.send_to_user_with(user, except, || frame.clone())
    }

    /// Like `send_to_user`, but builds the frame only when some connection will get it: most
    /// senders have no other session to echo their message to, and an offline recipient
    /// none, so the message frame (≈ 2 KB of JSON) is often not serialised at all.
    pub fn send_to_user_with(
        &self,
        user: UserId,
        except: Option<ConnId>,
        frame: impl FnOnce() -> Outbound,
    ) -> usize {
        let users = self.read();
        let Some(conns) = users.get(&user) else {
            return 0;
        };
        let mut targets = conns.iter().filter(|c| Some(c.id) != except).peekable();
        if targets.peek().is_none() {
            return 0;
        }
        let frame = frame();
        targets.filter(|conn| offer(conn, &frame)).count()
    }

    /// Starts the task that flushes presence changes every `PRESENCE_INTERVAL`; it ends when
    /// `stop` is cancelled or the hub is dropped.
    pub fn start_presence(self: &Arc<Self>, stop: CancellationToken) {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRESENCE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.cancelled() => break,
                }
                let Some(hub) = hub.upgrade() else { break };
                hub.flush_presence();
            }
        });
    }

    /// Notes that `user` came online or went offline; the next `flush_presence` tells everyone.
    fn presence_changed(&self, user: UserId) {
        self.presence_changed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(user);
    }

    /// Sends one `presence` event listing every user whose presence changed since the last
    /// flush (with their state now) to every connection. Returns how many users it listed.
    /// A protocol-1 connection gets the same news in its own shape: one frame per user, none
    /// about its own user.
    pub fn flush_presence(&self) -> usize {
        let changed = std::mem::take(
            &mut *self
                .presence_changed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if changed.is_empty() {
            return 0;
        }
        let (online, offline): (Vec<UserId>, Vec<UserId>) =
            changed.iter().partition(|u| self.is_online(**u));
        let users = self.read();
        // Each shape is made once, and only if some connection reads it.
        let mut gathered = None;
        let mut single: Option<Vec<(UserId, Outbound)>> = None;
        for (user, conns) in users.iter() {
            for conn in conns {
                match conn.protocol {
                    Protocol::V2 | Protocol::V3 => {
                        let frame = gathered.get_or_insert_with(|| {
                            outbound(&ServerEvent::Presence {
                                online: online.clone(),
                                offline: offline.clone(),
                            })
                        });
                        offer(conn, frame);
                    }
                    Protocol::V1 => {
                        let frames = single.get_or_insert_with(|| {
                            let came = online.iter().map(|u| (*u, presence_v1(*u, true)));
                            let went = offline.iter().map(|u| (*u, presence_v1(*u, false)));
                            came.chain(went).collect()
                        });
                        for (about, frame) in frames.iter() {
                            if about != user && !offer(conn, frame) {
                                break;
                            }
                        }
                    }
                }
            }
        }
        changed.len()
    }

    /// Closes every connection of the given sessions (logout, password change, reuse).
    pub fn close_sessions(&self, sessions: &[SessionId], code: WsErrorCode, message: &'static str) {
        if sessions.is_empty() {
            return;
        }
        let sessions: HashSet<&SessionId> = sessions.iter().collect();
        let users = self.read();
        for conn in users.values().flatten() {
            if sessions.contains(&conn.session) {
                conn.control.close(code, message);
            }
        }
    }
}

fn offer(conn: &Conn, frame: &Outbound) -> bool {
    match conn.tx.try_send(frame.clone()) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            conn.control.close(
                WsErrorCode::SlowReader,
                "the client did not read its frames fast enough",
            );
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::Utf8Bytes;

    fn frame(text: &str) -> Outbound {
        Outbound {
            place: crate::realtime::frames::Place::Outside,
            text: Utf8Bytes::from(text.to_owned()),
        }
    }

    #[test]
    fn presence_follows_connections_and_full_queues_close_slow_readers() {
        let hub = Hub::default();
        let user = UserId::generate();
        let session = SessionId::generate();
        let (tx, mut rx) = mpsc::channel(1);
        let control = Arc::new(Control::default());
        let (a, online) = hub
            .register(user, session, tx, control.clone(), Protocol::CURRENT, 2)
            .unwrap();
        assert!(online && hub.is_online(user));
        let (tx2, _rx2) = mpsc::channel(1);
        let (b, online) = hub
            .register(user, session, tx2, Arc::default(), Protocol::CURRENT, 2)
            .unwrap();
        assert!(!online);
        let (tx3, _rx3) = mpsc::channel(1);
        assert!(hub
            .register(user, session, tx3, Arc::default(), Protocol::CURRENT, 2)
            .is_err());

        assert_eq!(hub.send_to_user(user, &frame("1"), Some(b)), 1);
        assert_eq!(rx.try_recv().unwrap().text.as_str(), "1");
        hub.send_to_user(user, &frame("2"), Some(b));
        hub.send_to_user(user, &frame("3"), Some(b));
        assert_eq!(control.reason().map(|r| r.0), Some(WsErrorCode::SlowReader));

        assert!(!hub.unregister(user, a));
        assert!(hub.unregister(user, b));
        assert!(!hub.is_online(user));
    }

    #[test]
    fn presence_changes_are_gathered_into_one_event_per_flush() {
        let hub = Hub::default();
        let (watcher, gone, flapping) =
            (UserId::generate(), UserId::generate(), UserId::generate());
        let presence = |rx: &mut mpsc::Receiver<Outbound>| {
            let text = rx.try_recv().expect("a presence event").text;
            match serde_json::from_str(text.as_str()).unwrap() {
                ServerEvent::Presence {
                    mut online,
                    mut offline,
                } => {
                    online.sort();
                    offline.sort();
                    (online, offline)
                }
                other => panic!("expected presence, got {other:?}"),
            }
        };
        let sorted = |mut users: Vec<UserId>| {
            users.sort();
            users
        };
        let (tx, mut rx) = mpsc::channel(8);
        let (w, _) = hub
            .register(
                watcher,
                SessionId::generate(),
                tx,
                Arc::default(),
                Protocol::CURRENT,
                2,
            )
            .unwrap();
        let (tx2, _rx2) = mpsc::channel(8);
        let (g, _) = hub
            .register(
                gone,
                SessionId::generate(),
                tx2,
                Arc::default(),
                Protocol::CURRENT,
                2,
            )
            .unwrap();
        assert_eq!(hub.flush_presence(), 2);
        assert_eq!(presence(&mut rx), (sorted(vec![watcher, gone]), vec![]));

        hub.unregister(gone, g);
        let (tx3, _rx3) = mpsc::channel(8);
        let (f, _) = hub
            .register(
                flapping,
                SessionId::generate(),
                tx3,
                Arc::default(),
                Protocol::CURRENT,
                2,
            )
            .unwrap();
        hub.unregister(flapping, f);
        assert_eq!(hub.flush_presence(), 2);
        assert_eq!(presence(&mut rx), (vec![], sorted(vec![gone, flapping])));
        assert!(rx.try_recv().is_err(), "one event for all the changes");
        assert_eq!(hub.flush_presence(), 0, "nothing changed since");
        hub.unregister(watcher, w);
    }

    #[test]
    fn a_protocol_1_connection_gets_one_presence_frame_per_other_user() {
        let hub = Hub::default();
        let (old, new, other) = (UserId::generate(), UserId::generate(), UserId::generate());
        let connect = |user, protocol| {
            let (tx, rx) = mpsc::channel(8);
            let (id, _) = hub
                .register(user, SessionId::generate(), tx, Arc::default(), protocol, 2)
                .unwrap();
            (id, rx)
        };
        let (_, mut old_rx) = connect(old, Protocol::V1);
        let (_, mut new_rx) = connect(new, Protocol::V2);
        let (o, _other_rx) = connect(other, Protocol::V2);
        hub.flush_presence();
        let mut frames: Vec<securechat_proto::ws::v1::Presence> =
            std::iter::from_fn(|| old_rx.try_recv().ok())
                .map(|out| serde_json::from_str(out.text.as_str()).unwrap())
                .collect();
        frames.sort_by_key(|p| p.user_id);
        let mut others = [new, other];
        others.sort();
        assert_eq!(
            frames,
            others
                .iter()
                .map(|u| securechat_proto::ws::v1::Presence {
                    user_id: *u,
                    online: true
                })
                .collect::<Vec<_>>(),
            "one frame per other user, none about itself"
        );
        let gathered = new_rx.try_recv().unwrap();
        assert!(matches!(
            serde_json::from_str(gathered.text.as_str()).unwrap(),
            ServerEvent::Presence { online, .. } if online.len() == 3
        ));

        hub.unregister(other, o);
        hub.flush_presence();
        let gone: securechat_proto::ws::v1::Presence =
            serde_json::from_str(old_rx.try_recv().unwrap().text.as_str()).unwrap();
        assert_eq!((gone.user_id, gone.online), (other, false));
        assert!(old_rx.try_recv().is_err());
    }
}
