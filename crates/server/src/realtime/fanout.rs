//! The fan-out task: everything the delivery worker stored is announced here, in the order
//! it was stored: acks and errors to the origin connection, messages, removals and read
//! receipts to every live session of both users. It runs beside the worker, so the fan-out of
//! one batch (a JSON frame per recipient session) overlaps the commit of the next instead of
//! delaying it; one FIFO channel keeps each connection's events in `seq` order. In a
//! cluster, each frame for a user is also published to the other nodes (after the commit:
//! the worker hands over only what it stored).

use std::sync::Arc;

use tokio::sync::mpsc;

use securechat_proto::b64;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{DeleteReason, ServerEvent, WsErrorCode};
use securechat_store::model::{AppendOutcome, GroupAppendOutcome, NewMessage, Removal};

use crate::blobs::Blobs;
use crate::cluster::Cluster;
use crate::metrics::{DELIVERY_LATENCY, MESSAGES_DELIVERED, MESSAGES_STORED};
use crate::realtime::frames::{self, error, outbound, Outbound};
use crate::realtime::hub::{ConnId, Hub};
use crate::realtime::work::{Announcement, Failure, GroupPending, Origin, Reply};

/// Sends to the connection a job came from. A closed or overflowing origin will resend after
/// reconnecting; the store is the truth.
pub fn reply(origin: &Origin, frame: Outbound) {
    let _ = origin.tx.try_send(frame);
}

/// Where announced frames go: the sessions here and, in a cluster, the other nodes.
struct Fanout {
    hub: Arc<Hub>,
    blobs: Blobs,
    cluster: Cluster,
    clustered: bool,
}

impl Fanout {
    /// Whether `user` has sessions on other nodes, as presence says. A session that has
    /// just connected elsewhere may not be counted yet: it reads what it missed from the
    /// store (its node tips it once subscribed, and at every poll).
    fn elsewhere(&self, user: UserId) -> bool {
        self.clustered && self.hub.remote_connections(user) > 0
    }

    /// Sends a frame to every session of `user` but `except`, here and on other nodes.
    fn to_user(&self, user: UserId, frame: &Outbound, except: Option<ConnId>) -> usize {
        if self.elsewhere(user) {
            self.cluster.publish_frame(user, frame);
        }
        self.hub.send_to_user(user, frame, except)
    }

    /// Like `to_user`, building the frame only if some session here or on another node
    /// will get it: most senders have no other session to echo their message to, and an
    /// offline recipient none, so the frame (≈ 2 KB of JSON) is often not built at all.
    fn to_user_with(
        &self,
        user: UserId,
        except: Option<ConnId>,
        frame: impl FnOnce() -> Outbound,
    ) -> usize {
        if self.elsewhere(user) {
            self.to_user(user, &frame(), except)
        } else {
            self.hub.send_to_user_with(user, except, frame)
        }
    }
}

/// Starts the fan-out task; it ends when the worker drops its sender.
pub fn start(
    hub: Arc<Hub>,
    blobs: Blobs,
    cluster: Cluster,
    queue: usize,
) -> mpsc::Sender<Announcement> {
    let (tx, mut rx) = mpsc::channel::<Announcement>(queue);
    let fanout = Fanout {
        hub,
        blobs,
        clustered: cluster.node_id().is_some(),
        cluster,
    };
    tokio::spawn(async move {
        while let Some(announcement) = rx.recv().await {
            announce(&fanout, announcement);
        }
    });
    tx
}

fn announce(fanout: &Fanout, announcement: Announcement) {
    match announcement {
        Announcement::Messages {
            messages,
            replies,
            outcomes: Ok(outcomes),
        } => {
            for ((m, r), outcome) in messages.iter().zip(replies).zip(outcomes) {
                settle(fanout, m, r, outcome);
            }
        }
        Announcement::Messages {
            replies,
            outcomes: Err(failure),
            ..
        } => {
            for r in replies {
                reply(&r.origin, failure.frame(Some(r.msg_id)));
            }
        }
        Announcement::GroupMessage { pending, outcome } => settle_group(fanout, pending, outcome),
        Announcement::Removal {
            removal,
            reason,
            tombstone,
        } => announce_removal(fanout, &removal, reason, tombstone.as_ref()),
        Announcement::GroupRead {
            reader,
            group,
            up_to,
            seqs,
            origin,
        } => {
            let read = |seq| ServerEvent::Read {
                peer: reader,
                by: reader,
                up_to,
                seq,
                group: Some(group),
            };
            for (member, seq) in seqs {
                fanout.to_user(member, &outbound(&read(Some(seq))), None);
            }
            fanout.to_user(reader, &outbound(&read(None)), Some(origin.conn));
        }
        Announcement::Read {
            reader,
            peer,
            up_to,
            seq,
            origin,
        } => {
            let to_peer = outbound(&ServerEvent::Read {
                peer: reader,
                by: reader,
                up_to,
                seq: Some(seq),
                group: None,
            });
            fanout.to_user(peer, &to_peer, None);
            let to_reader = outbound(&ServerEvent::Read {
                peer,
                by: reader,
                up_to,
                seq: None,
                group: None,
            });
            fanout.to_user(reader, &to_reader, Some(origin.conn));
        }
        Announcement::GroupChanged { group, seq, users } => {
            let frame = outbound(&ServerEvent::Group {
                group_id: group,
                seq,
            });
            for user in users {
                fanout.to_user(user, &frame, None);
            }
        }
        Announcement::Reply { origin, frame } => reply(&origin, frame),
        Announcement::Flushed(done) => {
            let _ = done.send(());
        }
    }
}

/// Acks a message to its sender and delivers it to both users' other sessions.
fn settle(fanout: &Fanout, m: &NewMessage, r: Reply, outcome: AppendOutcome) {
    match outcome {
        AppendOutcome::Stored {
            sender_seq,
            recipient_seq,
        } => {
            metrics::counter!(MESSAGES_STORED).increment(1);
            reply(
                &r.origin,
                outbound(&ServerEvent::Ack {
                    msg_id: r.msg_id,
                    seq: sender_seq,
                    ts: m.received_at,
                }),
            );
            let event = |seq| {
                frames::message(seq, m.sender, m.received_at, &m.envelope, m.expires_at, None)
            };
            let delivered = fanout.to_user_with(m.recipient, None, || event(recipient_seq))
                + fanout.to_user_with(m.sender, Some(r.origin.conn), || event(sender_seq));
            metrics::counter!(MESSAGES_DELIVERED).increment(delivered as u64);
            metrics::histogram!(DELIVERY_LATENCY).record(r.received.elapsed().as_secs_f64());
        }
        AppendOutcome::Duplicate {
            sender_seq,
            received_at,
        } => reply(
            &r.origin,
            outbound(&ServerEvent::Ack {
                msg_id: r.msg_id,
                seq: sender_seq,
                ts: received_at,
            }),
        ),
        AppendOutcome::Conflict => reply(
            &r.origin,
            error(
                WsErrorCode::DuplicateConflict,
                "this msg_id was already used for a different message",
                Some(r.msg_id),
            ),
        ),
        AppendOutcome::BadFile => reply(
            &r.origin,
            error(
                WsErrorCode::InvalidEnvelope,
                "a referenced file is unknown, not uploaded by you for this recipient, or already used",
                Some(r.msg_id),
            ),
        ),
        AppendOutcome::Gone => reply(
            &r.origin,
            error(
                WsErrorCode::UnknownRecipient,
                "the recipient's account was deleted; nothing was sent",
                Some(r.msg_id),
            ),
        ),
    }
}

/// Acks a group message to its sender and delivers it to every member's sessions (the
/// sender's other sessions too), or answers why it was refused.
fn settle_group(
    fanout: &Fanout,
    pending: GroupPending,
    outcome: Result<GroupAppendOutcome, Failure>,
) {
    let m = &pending.message.message;
    let group = pending.message.group;
    let (r, msg_id) = (&pending.origin, pending.msg_id);
    let refuse = |code, text: &str| reply(r, error(code, text, Some(msg_id.clone())));
    match outcome {
        Err(failure) => reply(r, failure.frame(Some(msg_id))),
        Ok(GroupAppendOutcome::Stored {
            sender_seq,
            members,
        }) => {
            metrics::counter!(MESSAGES_STORED).increment(1);
            reply(
                r,
                outbound(&ServerEvent::Ack {
                    msg_id,
                    seq: sender_seq,
                    ts: m.received_at,
                }),
            );
            let event = |seq| {
                let (at, expires) = (m.received_at, m.expires_at);
                frames::message(seq, m.sender, at, &m.envelope, expires, Some(group))
            };
            let mut delivered = fanout.to_user_with(m.sender, Some(r.conn), || event(sender_seq));
            for (member, seq) in members {
                delivered += fanout.to_user_with(member, None, || event(seq));
            }
            metrics::counter!(MESSAGES_DELIVERED).increment(delivered as u64);
            metrics::histogram!(DELIVERY_LATENCY).record(pending.received.elapsed().as_secs_f64());
        }
        Ok(GroupAppendOutcome::Duplicate {
            sender_seq,
            received_at,
        }) => reply(
            r,
            outbound(&ServerEvent::Ack {
                msg_id,
                seq: sender_seq,
                ts: received_at,
            }),
        ),
        Ok(GroupAppendOutcome::Conflict) => refuse(
            WsErrorCode::DuplicateConflict,
            "this msg_id was already used for a different message",
        ),
        Ok(GroupAppendOutcome::BadFile) => refuse(
            WsErrorCode::InvalidEnvelope,
            "a referenced file is unknown, not uploaded by you for this group, or already used",
        ),
        Ok(GroupAppendOutcome::NotMember) => refuse(
            WsErrorCode::NotAMember,
            "you are not a member of this group (or it does not exist); nothing was sent",
        ),
        Ok(GroupAppendOutcome::MembershipChanged) => refuse(
            WsErrorCode::GroupChanged,
            "the group's membership changed: the message must be wrapped for exactly its \
             members; fetch its chain, verify it and seal again (nothing was sent)",
        ),
    }
}

/// Tells every live session of everyone who got a message (sender and recipient, or the
/// group's members who received it) that it is gone, and removes the bytes of its files (in
/// the background). Offline sessions learn it from their stream.
fn announce_removal(
    fanout: &Fanout,
    removal: &Removal,
    reason: DeleteReason,
    tombstone: Option<&Envelope>,
) {
    let msg_id = b64::encode(removal.msg_id);
    for &(user, seq) in &removal.streams {
        let frame = outbound(&ServerEvent::Deleted {
            msg_id: msg_id.clone(),
            seq,
            from: removal.sender,
            reason,
            envelope: tombstone.cloned(),
            group: removal.group,
        });
        fanout.to_user(user, &frame, None);
    }
    if !removal.files.is_empty() {
        let blobs = fanout.blobs.clone();
        let files = removal.files.clone();
        tokio::spawn(async move {
            for file in &files {
                blobs.remove(file).await;
            }
        });
    }
}
