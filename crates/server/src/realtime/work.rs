//! The work that flows through the delivery pipeline: jobs from connections to the delivery
//! worker, and announcements from the worker to the fan-out task. Both tasks depend on these
//! types, and not on each other.

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{DeleteReason, WsErrorCode};
use securechat_store::model::{
    AccountRemoval, AppendOutcome, GroupAppendOutcome, NewGroupMessage, NewMessage, Removal,
};
use securechat_store::StoreError;
use uuid::Uuid;

use crate::realtime::frames::{error, Outbound};
use crate::realtime::hub::ConnId;

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
    /// `msg_id` as the client wrote it (base64url), for the ack.
    pub msg_id: String,
    pub origin: Origin,
    pub received: Instant,
}

/// One group message waiting to be stored.
#[derive(Debug)]
pub struct GroupPending {
    pub message: NewGroupMessage,
    /// `msg_id` as the client wrote it (base64url), for the ack.
    pub msg_id: String,
    pub origin: Origin,
    pub received: Instant,
}

/// A signed tombstone, already checked: its signer (`sender`) deletes its own message, or,
/// in a group, an admin deletes a member's.
#[derive(Debug)]
pub struct Deletion {
    pub sender: UserId,
    /// The group of the message, for a group tombstone.
    pub group: Option<Uuid>,
    pub target: [u8; 16],
    pub tombstone: Envelope,
    /// The tombstone's own `msg_id`, for error references.
    pub msg_id: String,
    pub origin: Origin,
}

/// A read receipt: of the conversation with `peer`, or of a group.
#[derive(Debug)]
pub struct Receipt {
    pub reader: UserId,
    pub peer: Conversation,
    pub up_to: i64,
    pub origin: Origin,
}

/// A conversation: with one user, or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation {
    Direct(UserId),
    Group(Uuid),
}

/// Work for the delivery task.
#[derive(Debug)]
pub enum Job {
    Append(Pending),
    AppendGroup(GroupPending),
    Delete(Deletion),
    Read(Receipt),
    /// Remove messages whose self-destruct time has come.
    Expire,
    /// Answered once every job queued before it is stored and announced (shutdown).
    Flush(oneshot::Sender<()>),
    /// A group's membership changed (stored already): tell `users`, after every message
    /// stored before the change has been announced.
    GroupChanged {
        group: Uuid,
        seq: u64,
        users: Vec<UserId>,
    },
    /// Delete an account: its messages leave both streams in order with everything else.
    RemoveAccount {
        user: UserId,
        done: oneshot::Sender<Result<AccountRemoval, StoreError>>,
    },
}

/// What answering and fanning out a stored message needs besides the message itself.
pub struct Reply {
    pub msg_id: String,
    pub origin: Origin,
    pub received: Instant,
}

/// Something the worker stored (or failed to), to announce.
pub enum Announcement {
    /// A batch of messages and what the store made of each (`None`: the batch failed).
    Messages {
        messages: Vec<NewMessage>,
        replies: Vec<Reply>,
        outcomes: Result<Vec<AppendOutcome>, Failure>,
    },
    /// A group message and what the store made of it.
    GroupMessage {
        pending: GroupPending,
        outcome: Result<GroupAppendOutcome, Failure>,
    },
    /// A message deleted by its sender or expired.
    Removal {
        removal: Removal,
        reason: DeleteReason,
        tombstone: Option<Envelope>,
    },
    /// `reader` read `peer`'s messages up to `up_to`; `seq` is the event in `peer`'s stream.
    Read {
        reader: UserId,
        peer: UserId,
        up_to: i64,
        seq: u64,
        origin: Origin,
    },
    /// Member `reader` read the group's messages up to `up_to`; `seqs` are the events in the
    /// other members' streams.
    GroupRead {
        reader: UserId,
        group: Uuid,
        up_to: i64,
        seqs: Vec<(UserId, u64)>,
        origin: Origin,
    },
    /// A group's membership changed: the `group` event to these users.
    GroupChanged {
        group: Uuid,
        seq: u64,
        users: Vec<UserId>,
    },
    /// A frame for the origin only (an error).
    Reply { origin: Origin, frame: Outbound },
    /// Everything before this was announced (`Job::Flush`).
    Flushed(oneshot::Sender<()>),
}

/// The answer to a job the store could not do: `unavailable` (retryable) when the database
/// refuses writes, `internal` otherwise. Nothing was stored either way.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub code: WsErrorCode,
    pub message: &'static str,
}

impl Failure {
    /// The error frame, naming the frame it answers.
    pub fn frame(self, reference: Option<String>) -> Outbound {
        error(self.code, self.message, reference)
    }
}
