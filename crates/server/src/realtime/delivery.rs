//! The one writer of users' streams. A single task takes every job that adds to a stream
//! (messages, deletions, read receipts, expiries) in FIFO order, stores it, and only then
//! acknowledges and fans it out, so each connection sees its stream's events in `seq` order.
//! Consecutive messages are stored in one transaction (one fsync for the whole batch).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{DeleteReason, ServerEvent, WsErrorCode};
use securechat_store::model::{AppendOutcome, NewMessage};
use securechat_store::Store;

use crate::blobs::Blobs;
use crate::clock::now_ms;
use crate::metrics::{
    DELIVERY_LATENCY, MESSAGES_DELETED, MESSAGES_DELIVERED, MESSAGES_EXPIRED, MESSAGES_STORED,
    STORE_BATCH,
};
use crate::realtime::fanout::announce_removal;
use crate::realtime::frames::{error, outbound};
use crate::realtime::hub::{ConnId, Hub, Outbound};

/// Most messages committed in one transaction.
pub const MAX_BATCH: usize = 512;
/// Most messages expired per store call.
const EXPIRY_BATCH: u32 = 1000;

/// The connection a job came from, to answer it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub conn: ConnId,
    pub tx: mpsc::Sender<Outbound>,
}

/// One message waiting to be stored.
#[derive(Debug)]
pub struct Pending {
    pub message: NewMessage,
    /// The envelope as received, for the fan-out frames.
    pub envelope: Envelope,
    /// `msg_id` as the client wrote it (base64url), for the ack.
    pub msg_id: String,
    pub origin: Origin,
    pub received: Instant,
}

/// A sender's signed tombstone, already checked.
#[derive(Debug)]
pub struct Deletion {
    pub sender: UserId,
    pub target: [u8; 16],
    pub tombstone: Envelope,
    /// The tombstone's own `msg_id`, for error references.
    pub msg_id: String,
    pub origin: Origin,
}

/// A read receipt.
#[derive(Debug)]
pub struct Receipt {
    pub reader: UserId,
    pub peer: UserId,
    pub up_to: i64,
    pub origin: Origin,
}

/// Work for the delivery task.
#[derive(Debug)]
pub enum Job {
    Append(Pending),
    Delete(Deletion),
    Read(Receipt),
    /// Remove messages whose self-destruct time has come.
    Expire,
}

/// Handle to the delivery task.
#[derive(Clone)]
pub struct Delivery {
    tx: mpsc::Sender<Job>,
}

struct Worker {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    blobs: Blobs,
}

impl Delivery {
    /// Starts the delivery task; it ends when every handle is dropped.
    pub fn start(store: Arc<dyn Store>, hub: Arc<Hub>, blobs: Blobs, queue: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        tokio::spawn(Worker { store, hub, blobs }.run(rx));
        Self { tx }
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

/// What answering and fanning out a stored message needs besides the message itself.
struct Reply {
    envelope: Envelope,
    msg_id: String,
    origin: Origin,
    received: Instant,
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
            envelope: pending.envelope,
            msg_id: pending.msg_id,
            origin: pending.origin,
            received: pending.received,
        });
    }
}

fn reply(origin: &Origin, frame: Outbound) {
    // A closed or overflowing origin will resend after reconnecting; the store is the truth.
    let _ = origin.tx.try_send(frame);
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut appends = Batch::default();
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
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

    async fn append(&self, batch: &mut Batch) {
        if batch.messages.is_empty() {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!(STORE_BATCH).record(batch.messages.len() as f64);
        let result = self.store.append_messages(&batch.messages).await;
        let pending = batch.messages.drain(..).zip(batch.replies.drain(..));
        match result {
            Ok(outcomes) => {
                for ((message, answer), outcome) in pending.zip(outcomes) {
                    self.settle(&message, answer, outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a batch of messages failed");
                for (_, answer) in pending {
                    reply(
                        &answer.origin,
                        error(
                            WsErrorCode::Internal,
                            "the message could not be stored; retry",
                            Some(answer.msg_id),
                        ),
                    );
                }
            }
        }
    }

    fn settle(&self, m: &NewMessage, pending: Reply, outcome: AppendOutcome) {
        match outcome {
            AppendOutcome::Stored {
                sender_seq,
                recipient_seq,
            } => {
                metrics::counter!(MESSAGES_STORED).increment(1);
                reply(
                    &pending.origin,
                    outbound(&ServerEvent::Ack {
                        msg_id: pending.msg_id.clone(),
                        seq: sender_seq,
                        ts: m.received_at,
                    }),
                );
                let event = |seq| {
                    outbound(&ServerEvent::Message {
                        seq,
                        from: m.sender,
                        ts: m.received_at,
                        envelope: pending.envelope.clone(),
                        expires_at: m.expires_at,
                    })
                };
                let delivered = self
                    .hub
                    .send_to_user(m.recipient, &event(recipient_seq), None)
                    + self.hub.send_to_user(
                        m.sender,
                        &event(sender_seq),
                        Some(pending.origin.conn),
                    );
                metrics::counter!(MESSAGES_DELIVERED).increment(delivered as u64);
                metrics::histogram!(DELIVERY_LATENCY)
                    .record(pending.received.elapsed().as_secs_f64());
            }
            AppendOutcome::Duplicate {
                sender_seq,
                received_at,
            } => reply(
                &pending.origin,
                outbound(&ServerEvent::Ack {
                    msg_id: pending.msg_id,
                    seq: sender_seq,
                    ts: received_at,
                }),
            ),
            AppendOutcome::Conflict => reply(
                &pending.origin,
                error(
                    WsErrorCode::DuplicateConflict,
                    "this msg_id was already used for a different message",
                    Some(pending.msg_id),
                ),
            ),
            AppendOutcome::BadFile => reply(
                &pending.origin,
                error(
                    WsErrorCode::InvalidEnvelope,
                    "a referenced file is unknown, not uploaded by you for this recipient, or already used",
                    Some(pending.msg_id),
                ),
            ),
        }
    }

    async fn other(&self, job: Job) {
        match job {
            Job::Append(_) => {}
            Job::Delete(d) => self.delete(d).await,
            Job::Read(r) => self.read(r).await,
            Job::Expire => self.expire().await,
        }
    }

    async fn delete(&self, d: Deletion) {
        let text = serde_json::to_string(&d.tombstone).unwrap_or_default();
        match self
            .store
            .delete_message(d.sender, d.target, &text, now_ms())
            .await
        {
            Ok(Some(removal)) => {
                metrics::counter!(MESSAGES_DELETED).increment(1);
                announce_removal(
                    &self.hub,
                    &self.blobs,
                    &removal,
                    DeleteReason::Deleted,
                    Some(&d.tombstone),
                );
            }
            Ok(None) => reply(
                &d.origin,
                error(
                    WsErrorCode::NotFound,
                    "you have no such message",
                    Some(d.msg_id),
                ),
            ),
            Err(e) => {
                tracing::error!(error = %e, "delete failed");
                reply(
                    &d.origin,
                    error(WsErrorCode::Internal, "retry later", Some(d.msg_id)),
                );
            }
        }
    }

    async fn read(&self, r: Receipt) {
        let seq = match self
            .store
            .record_read(r.reader, r.peer, r.up_to, now_ms())
            .await
        {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, "read receipt failed");
                return reply(&r.origin, error(WsErrorCode::Internal, "retry later", None));
            }
        };
        let to_peer = outbound(&ServerEvent::Read {
            peer: r.reader,
            by: r.reader,
            up_to: r.up_to,
            seq: Some(seq),
        });
        self.hub.send_to_user(r.peer, &to_peer, None);
        let to_reader = outbound(&ServerEvent::Read {
            peer: r.peer,
            by: r.reader,
            up_to: r.up_to,
            seq: None,
        });
        self.hub
            .send_to_user(r.reader, &to_reader, Some(r.origin.conn));
    }

    async fn expire(&self) {
        loop {
            let removals = match self.store.expire_messages(now_ms(), EXPIRY_BATCH).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "message expiry failed");
                    return;
                }
            };
            for removal in &removals {
                announce_removal(&self.hub, &self.blobs, removal, DeleteReason::Expired, None);
            }
            metrics::counter!(MESSAGES_EXPIRED).increment(removals.len() as u64);
            if removals.len() < EXPIRY_BATCH as usize {
                return;
            }
        }
    }
}
