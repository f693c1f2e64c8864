//! The one writer of users' streams. A single task takes every job that adds to a stream
//! (messages, deletions, read receipts, expiries) in FIFO order and stores it; only then is it
//! acknowledged and fanned out, by the `fanout` task in the same order, so each connection sees
//! its stream's events in `seq` order. Consecutive messages are stored in one transaction (one
//! fsync for the whole batch), and while one batch is fanned out the next is being committed.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use securechat_proto::ids::UserId;
use securechat_proto::ws::{DeleteReason, WsErrorCode};
use securechat_store::model::{AccountRemoval, NewMessage};
use securechat_store::{Store, StoreError};

use crate::blobs::Blobs;
use crate::clock::now_ms;
use crate::cluster::Cluster;
use crate::metrics::{MESSAGES_DELETED, MESSAGES_EXPIRED, STORE_BATCH, STORE_UNAVAILABLE};
use crate::realtime::fanout;
use crate::realtime::frames::error;
use crate::realtime::hub::Hub;
use crate::realtime::work::{
    Announcement, Conversation, Deletion, Failure, GroupPending, Job, Pending, Receipt, Reply,
};

/// Most messages committed in one transaction: large enough that a saturated writer's
/// per-commit costs are spread thin, small enough that one commit stays well under 100 ms.
pub const MAX_BATCH: usize = 1024;
/// Stored batches and other announcements waiting for the fan-out task.
const FANOUT_QUEUE: usize = 64;
/// Most messages expired per store call.
const EXPIRY_BATCH: u32 = 1000;

/// Handle to the delivery task.
#[derive(Clone)]
pub struct Delivery {
    tx: mpsc::Sender<Job>,
}

struct Worker {
    store: Arc<dyn Store>,
    announce: mpsc::Sender<Announcement>,
}

impl Delivery {
    /// Starts the delivery task and its fan-out task; they end when `stop` is cancelled (or
    /// every handle is dropped).
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        blobs: Blobs,
        cluster: Cluster,
        queue: usize,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        let announce = fanout::start(hub, blobs, cluster, FANOUT_QUEUE);
        tokio::spawn(Worker { store, announce }.run(rx, stop));
        Self { tx }
    }

    /// Waits until every job queued before this call is stored and announced.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    /// Queues a job; waits while the queue is full (back-pressure on the sender).
    pub async fn submit(&self, job: Job) -> Result<(), Job> {
        self.tx.send(job).await.map_err(|e| e.0)
    }

    /// Queues a job unless the queue is full (for periodic work that will come again).
    pub fn offer(&self, job: Job) -> bool {
        self.tx.try_send(job).is_ok()
    }
}

/// Consecutive messages waiting for one transaction. The messages are kept apart from their
/// replies so the store reads them in place: nothing on the message path is copied for it.
#[derive(Default)]
struct Batch {
    messages: Vec<NewMessage>,
    replies: Vec<Reply>,
}

impl Batch {
    fn push(&mut self, pending: Pending) {
        self.messages.push(pending.message);
        self.replies.push(Reply {
            msg_id: pending.msg_id,
            origin: pending.origin,
            received: pending.received,
        });
    }
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Job>, stop: CancellationToken) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut appends = Batch::default();
        loop {
            let received = tokio::select! {
                n = rx.recv_many(&mut jobs, MAX_BATCH) => n,
                () = stop.cancelled() => 0,
            };
            if received == 0 {
                break;
            }
            for job in jobs.drain(..) {
                match job {
                    Job::Append(pending) => appends.push(pending),
                    other => {
                        self.append(&mut appends).await;
                        self.other(other).await;
                    }
                }
            }
            self.append(&mut appends).await;
        }
    }

    /// Hands an announcement to the fan-out task, waiting while it is behind (back-pressure:
    /// the worker must not store faster than the results can be announced).
    async fn announce(&self, announcement: Announcement) {
        if self.announce.send(announcement).await.is_err() {
            tracing::error!("the fan-out task has stopped");
        }
    }

    async fn append(&self, batch: &mut Batch) {
        if batch.messages.is_empty() {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!(STORE_BATCH).record(batch.messages.len() as f64);
        let outcomes = match self.store.append_messages(&batch.messages).await {
            Ok(outcomes) => Ok(outcomes),
            Err(e) => Err(failed(&e, "storing a batch of messages failed")),
        };
        let batch = std::mem::take(batch);
        self.announce(Announcement::Messages {
            messages: batch.messages,
            replies: batch.replies,
            outcomes,
        })
        .await;
    }

    async fn other(&self, job: Job) {
        match job {
            Job::Append(_) => {}
            Job::AppendGroup(g) => self.append_group(g).await,
            Job::Delete(d) => self.delete(d).await,
            Job::Read(r) => self.read(r).await,
            Job::Expire => self.expire().await,
            Job::Flush(done) => self.announce(Announcement::Flushed(done)).await,
            Job::GroupChanged { group, seq, users } => {
                self.announce(Announcement::GroupChanged { group, seq, users })
                    .await;
            }
            Job::RemoveAccount { user, done } => self.remove_account(user, done).await,
        }
    }

    /// Deletes an account and announces the removal of what it sent, like expiries (there
    /// is no tombstone signed by its sender).
    async fn remove_account(
        &self,
        user: UserId,
        done: oneshot::Sender<Result<AccountRemoval, StoreError>>,
    ) {
        let result = self.store.delete_user(user, now_ms()).await;
        if let Ok(removal) = &result {
            metrics::counter!(MESSAGES_DELETED).increment(removal.removals.len() as u64);
            for removal in &removal.removals {
                self.announce(Announcement::Removal {
                    removal: removal.clone(),
                    reason: DeleteReason::Expired,
                    tombstone: None,
                })
                .await;
            }
        }
        let _ = done.send(result);
    }

    /// Stores a group message on its own (its membership check and its entries in every
    /// member's stream make one transaction).
    async fn append_group(&self, pending: GroupPending) {
        let outcome = match self.store.append_group_message(&pending.message).await {
            Ok(outcome) => Ok(outcome),
            Err(e) => Err(failed(&e, "storing a group message failed")),
        };
        self.announce(Announcement::GroupMessage { pending, outcome })
            .await;
    }

    async fn delete(&self, d: Deletion) {
        let stored = match (serde_json::to_string(&d.tombstone), d.group) {
            (Ok(text), None) => {
                self.store
                    .delete_message(d.sender, d.target, &text, now_ms())
                    .await
            }
            (Ok(text), Some(group)) => {
                self.store
                    .delete_group_message(d.sender, group, d.target, &text, now_ms())
                    .await
            }
            (Err(e), _) => Err(StoreError::Other(Box::new(e))),
        };
        let announcement = match stored {
            Ok(Some(removal)) => {
                metrics::counter!(MESSAGES_DELETED).increment(1);
                Announcement::Removal {
                    removal,
                    reason: DeleteReason::Deleted,
                    tombstone: Some(d.tombstone),
                }
            }
            Ok(None) => Announcement::Reply {
                origin: d.origin,
                frame: error(
                    WsErrorCode::NotFound,
                    if d.group.is_some() {
                        "the group has no such message that you sent, and you are not its admin"
                    } else {
                        "you have no such message"
                    },
                    Some(d.msg_id),
                ),
            },
            Err(e) => Announcement::Reply {
                origin: d.origin,
                frame: failed(&e, "delete failed").frame(Some(d.msg_id)),
            },
        };
        self.announce(announcement).await;
    }

    async fn read(&self, r: Receipt) {
        let stored = match r.peer {
            Conversation::Direct(peer) => self
                .store
                .record_read(r.reader, peer, r.up_to, now_ms())
                .await
                .map(|seq| {
                    Some(Announcement::Read {
                        reader: r.reader,
                        peer,
                        up_to: r.up_to,
                        seq,
                        origin: r.origin.clone(),
                    })
                }),
            Conversation::Group(group) => self
                .store
                .record_group_read(r.reader, group, r.up_to, now_ms())
                .await
                .map(|seqs| {
                    seqs.map(|seqs| Announcement::GroupRead {
                        reader: r.reader,
                        group,
                        up_to: r.up_to,
                        seqs,
                        origin: r.origin.clone(),
                    })
                }),
        };
        let announcement = match stored {
            Ok(Some(announcement)) => announcement,
            Ok(None) => Announcement::Reply {
                origin: r.origin,
                frame: error(
                    WsErrorCode::NotAMember,
                    "you are not a member of this group",
                    None,
                ),
            },
            Err(e) => Announcement::Reply {
                origin: r.origin,
                frame: failed(&e, "read receipt failed").frame(None),
            },
        };
        self.announce(announcement).await;
    }

    async fn expire(&self) {
        loop {
            let removals = match self.store.expire_messages(now_ms(), EXPIRY_BATCH).await {
                Ok(r) => r,
                Err(e) => {
                    failed(&e, "message expiry failed");
                    return;
                }
            };
            let count = removals.len();
            metrics::counter!(MESSAGES_EXPIRED).increment(count as u64);
            for removal in removals {
                self.announce(Announcement::Removal {
                    removal,
                    reason: DeleteReason::Expired,
                    tombstone: None,
                })
                .await;
            }
            if count < EXPIRY_BATCH as usize {
                return;
            }
        }
    }
}

/// Logs and counts a failed store call, and says how to answer it.
fn failed(e: &StoreError, what: &str) -> Failure {
    tracing::error!(error = %e, "{what}");
    if let StoreError::Unavailable(_) = e {
        metrics::counter!(STORE_UNAVAILABLE, "path" => "ws").increment(1);
        Failure {
            code: WsErrorCode::Unavailable,
            message: "the server cannot store anything right now; nothing was done, retry",
        }
    } else {
        Failure {
            code: WsErrorCode::Internal,
            message: "the server failed; nothing was done, retry later",
        }
    }
}
