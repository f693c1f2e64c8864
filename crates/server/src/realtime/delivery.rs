//! Durable delivery with grouped commits: one task drains the queue of sends, stores them in
//! one transaction (one fsync for the whole batch), then acknowledges each sender and fans the
//! messages out. Order is kept: the queue is FIFO and fan-out follows commit order.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use securechat_proto::envelope::Envelope;
use securechat_proto::ws::{ServerEvent, WsErrorCode};
use securechat_store::model::{AppendOutcome, NewMessage};
use securechat_store::Store;

use crate::metrics::{DELIVERY_LATENCY, MESSAGES_DELIVERED, MESSAGES_STORED, STORE_BATCH};
use crate::realtime::frames::{error, outbound};
use crate::realtime::hub::{ConnId, Hub, Outbound};

/// Most messages committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// The connection a send came from, to acknowledge it.
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

/// Handle to the delivery task.
#[derive(Clone)]
pub struct Delivery {
    tx: mpsc::Sender<Pending>,
}

impl Delivery {
    /// Starts the delivery task; it ends when every handle is dropped.
    pub fn start(store: Arc<dyn Store>, hub: Arc<Hub>, queue: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        tokio::spawn(run(store, hub, rx));
        Self { tx }
    }

    /// Queues a message; waits while the queue is full (back-pressure on the sender).
    pub async fn submit(&self, pending: Pending) -> Result<(), Pending> {
        self.tx.send(pending).await.map_err(|e| e.0)
    }
}

async fn run(store: Arc<dyn Store>, hub: Arc<Hub>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let messages: Vec<NewMessage> = batch.iter().map(|p| p.message.clone()).collect();
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!(STORE_BATCH).record(messages.len() as f64);
        match store.append_messages(&messages).await {
            Ok(outcomes) => {
                for (pending, outcome) in batch.drain(..).zip(outcomes) {
                    settle(&hub, pending, outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, count = batch.len(), "storing messages failed");
                for pending in batch.drain(..) {
                    reply(
                        &pending.origin,
                        error(
                            WsErrorCode::Internal,
                            "the message could not be stored; retry",
                            Some(pending.msg_id),
                        ),
                    );
                }
            }
        }
    }
}

fn reply(origin: &Origin, frame: Outbound) {
    // A closed or overflowing origin will resend after reconnecting; the store is the truth.
    let _ = origin.tx.try_send(frame);
}

fn settle(hub: &Hub, pending: Pending, outcome: AppendOutcome) {
    let m = &pending.message;
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
            let delivered = hub.send_to_user(m.recipient, &event(recipient_seq), None)
                + hub.send_to_user(m.sender, &event(sender_seq), Some(pending.origin.conn));
            metrics::counter!(MESSAGES_DELIVERED).increment(delivered as u64);
            metrics::histogram!(DELIVERY_LATENCY).record(pending.received.elapsed().as_secs_f64());
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
