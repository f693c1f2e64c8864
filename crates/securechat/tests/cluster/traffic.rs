//! Steady traffic for the fault tests: sender i writes to recipient i; senders and
//! recipients sit on different nodes, each recipient with two sessions on two nodes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use securechat_proto::envelope::Envelope;

use super::checker::{check, History, Sent};
use super::clients::{person, Person, Session};
use super::{eventually, seal, Cluster};

pub struct Traffic {
    senders: Vec<Person>,
    sender_sessions: Vec<Session>,
    recipients: Vec<Person>,
    recipient_sessions: Vec<[Session; 2]>,
    /// Every sealed message by envelope signature.
    sent: HashMap<String, Sent>,
    /// When each message was first handed to its session (written while the test reads the
    /// rest).
    sent_at: Mutex<HashMap<String, Instant>>,
    /// Message ids of each sender, in order.
    ids: Vec<Vec<String>>,
}

impl Traffic {
    pub async fn new(cluster: &Cluster, pairs: usize) -> Self {
        let n = cluster.nodes.len();
        let mut senders = Vec::new();
        let mut recipients = Vec::new();
        for i in 0..pairs {
            senders.push(person(&cluster.nodes[i % n].base, &format!("sender{i}")).await);
            recipients
                .push(person(&cluster.nodes[(i + 1) % n].base, &format!("recipient{i}")).await);
        }
        let sender_sessions = senders
            .iter()
            .enumerate()
            .map(|(i, p)| Session::start(cluster.bases_from(i % n), 0, p.token.clone()))
            .collect();
        let recipient_sessions = recipients
            .iter()
            .enumerate()
            .map(|(i, p)| {
                [
                    Session::start(cluster.bases_from((i + 1) % n), 0, p.token.clone()),
                    Session::start(cluster.bases_from((i + 2) % n), 0, p.token.clone()),
                ]
            })
            .collect();
        Self {
            ids: vec![Vec::new(); pairs],
            senders,
            sender_sessions,
            recipients,
            recipient_sessions,
            sent: HashMap::new(),
            sent_at: Mutex::default(),
        }
    }

    pub async fn connected(&self) {
        for s in self
            .sender_sessions
            .iter()
            .chain(self.recipient_sessions.iter().flatten())
        {
            super::connected(s, 1).await;
        }
    }

    /// Seals `count` messages per sender (before the clock starts: sealing asks for keys).
    pub async fn seal(&mut self, count: usize) -> Vec<Vec<(String, Envelope)>> {
        let mut sealed = Vec::new();
        for (i, sender) in self.senders.iter_mut().enumerate() {
            let to = self.recipients[i].id;
            let mut mine = Vec::new();
            for _ in 0..count {
                let index = self.ids[i].len();
                let (id, envelope) = seal(sender, to, &format!("message {index}")).await;
                self.sent
                    .insert(envelope.sig.clone(), Sent { sender: i, index });
                self.ids[i].push(id.clone());
                mine.push((id, envelope));
            }
            sealed.push(mine);
        }
        sealed
    }

    /// Sends the sealed messages, one per sender every `gap`.
    pub async fn send(&self, sealed: Vec<Vec<(String, Envelope)>>, gap: Duration) {
        let rounds = sealed.iter().map(Vec::len).max().unwrap_or(0);
        let mut queues: Vec<_> = sealed.into_iter().map(Vec::into_iter).collect();
        let mut tick = tokio::time::interval(gap);
        for _ in 0..rounds {
            tick.tick().await;
            for (i, queue) in queues.iter_mut().enumerate() {
                if let Some((id, envelope)) = queue.next() {
                    self.sent_at
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(envelope.sig.clone(), Instant::now());
                    self.sender_sessions[i].send(id, envelope);
                }
            }
        }
    }

    /// Waits until every message is acknowledged and delivered to every recipient session
    /// (or `patience` runs out), then checks the histories.
    pub async fn settle(&self, patience: Duration) -> History {
        let everything_acked = || {
            self.sender_sessions.iter().zip(&self.ids).all(|(s, ids)| {
                let record = s.lock();
                ids.iter().all(|id| record.acked.contains_key(id))
            })
        };
        let everything_delivered = || {
            self.recipient_sessions
                .iter()
                .zip(&self.ids)
                .all(|(sessions, ids)| {
                    sessions
                        .iter()
                        .all(|s| s.lock().messages.len() >= ids.len())
                })
        };
        eventually(patience, || everything_acked() && everything_delivered()).await;
        let mut history = History::default();
        for (i, sessions) in self.recipient_sessions.iter().enumerate() {
            let acked = self.acked_of(i);
            history.acknowledged += acked.len();
            let records: Vec<_> = sessions.iter().map(Session::lock).collect();
            let refs: Vec<_> = records.iter().map(|r| &**r).collect();
            check(&refs, &self.sent, &acked, &mut history);
        }
        for s in &self.sender_sessions {
            history.stream_breaks += s.lock().anomalies.len();
        }
        history
    }

    /// The acknowledged messages of sender `i`.
    fn acked_of(&self, i: usize) -> Vec<Sent> {
        let record = self.sender_sessions[i].lock();
        self.ids[i]
            .iter()
            .enumerate()
            .filter(|(_, id)| record.acked.contains_key(*id))
            .map(|(index, _)| Sent { sender: i, index })
            .collect()
    }

    /// Messages acknowledged so far, over every sender.
    pub fn acked(&self) -> usize {
        self.sender_sessions
            .iter()
            .map(|s| s.lock().acked.len())
            .sum()
    }

    /// The error frames the senders' sessions received: how many were the retryable
    /// `unavailable`, and the others.
    pub fn refusals(&self) -> (usize, Vec<String>) {
        let mut unavailable = 0;
        let mut others = Vec::new();
        for s in &self.sender_sessions {
            for error in &s.lock().errors {
                if error.starts_with("Unavailable:") {
                    unavailable += 1;
                } else {
                    others.push(error.clone());
                }
            }
        }
        (unavailable, others)
    }

    /// Every recipient's stream read again from seq 0 by a new session through `nodes` (what
    /// a new device finds in the database), checked against the acknowledged messages;
    /// waits up to `patience` for each to hold as many messages as were acknowledged to it.
    pub async fn replayed(&self, nodes: &[String], patience: Duration) -> History {
        let mut history = History::default();
        for (i, recipient) in self.recipients.iter().enumerate() {
            let acked = self.acked_of(i);
            history.acknowledged += acked.len();
            let session = Session::start(nodes.to_vec(), 0, recipient.token.clone());
            eventually(patience, || session.lock().messages.len() >= acked.len()).await;
            {
                let record = session.lock();
                check(&[&*record], &self.sent, &acked, &mut history);
            }
            session.stop().await;
        }
        history
    }

    /// The longest wait from sending to receipt, over every recipient session, of the
    /// messages sent within `window` (from, to).
    pub fn longest_delay(&self, window: (Instant, Instant)) -> Duration {
        let mut longest = Duration::ZERO;
        let sent_at = self.sent_at.lock().unwrap_or_else(PoisonError::into_inner);
        for s in self.recipient_sessions.iter().flatten() {
            let record = s.lock();
            for ((_, sig), at) in record.messages.iter().zip(&record.received_at) {
                if let Some(sent) = sent_at.get(sig) {
                    if *sent >= window.0 && *sent < window.1 {
                        longest = longest.max(at.saturating_duration_since(*sent));
                    }
                }
            }
        }
        longest
    }

    /// A session that started on node 2 (the first recipient's first).
    pub fn observer(&self) -> &Session {
        &self.recipient_sessions[0][0]
    }

    /// Connections made by every session (reconnections included).
    pub fn connects(&self) -> u32 {
        self.sender_sessions
            .iter()
            .chain(self.recipient_sessions.iter().flatten())
            .map(|s| s.lock().connects)
            .sum()
    }

    pub async fn stop(self) {
        for s in self.sender_sessions {
            s.stop().await;
        }
        for [a, b] in self.recipient_sessions {
            a.stop().await;
            b.stop().await;
        }
    }
}
