//! Messages, per-user event streams (`seq`), deletions, expiry and read receipts.
//!
//! Every event delivered to a user (a message to or from them, a deletion, a read receipt)
//! gets the next number of that user's gap-free `seq`; clients resume "since N".

use securechat_proto::ids::UserId;

use crate::model::{AppendOutcome, EventPage, FileId, NewMessage, Removal, StoredMessage};
use crate::StoreError;

/// Stored ciphertext and its delivery streams.
#[async_trait::async_trait]
pub trait Messages {
    /// Stores a batch of messages in one transaction (one commit, one fsync), giving each a
    /// `seq` in its sender's and its recipient's streams, in input order; outcomes are in
    /// input order too. A message whose `(sender, msg_id)` is stored already (by any process,
    /// or earlier in the batch) is not stored again: same digest answers `Duplicate` with the
    /// original `seq`, another digest `Conflict`. A message's files are attached in the same
    /// transaction (each file to at most one message); unusable files answer `BadFile`.
    /// Concurrent batches from several processes never deadlock each other and never leave a
    /// gap or a repeat in any stream. `Ok` means the whole batch is durably committed; `Err`
    /// means none of it is.
    async fn append_messages(&self, batch: &[NewMessage])
        -> Result<Vec<AppendOutcome>, StoreError>;

    /// Removes the ciphertext of `sender`'s 1:1 message `msg_id` (group messages go through
    /// `GroupMessages::delete_group_message`) for everyone and records a
    /// deletion event (with the sender-signed tombstone) in both streams, in one transaction.
    /// `None` when the sender has no such live message (of two concurrent deletions, one
    /// gets the removal and the other `None`).
    async fn delete_message(
        &self,
        sender: UserId,
        msg_id: [u8; 16],
        tombstone: &str,
        now: i64,
    ) -> Result<Option<Removal>, StoreError>;

    /// Removes up to `limit` messages whose self-destruct time is at or before `now`,
    /// recording an expiry event in both streams. Each message is removed once even when
    /// several processes expire at the same time.
    async fn expire_messages(&self, now: i64, limit: u32) -> Result<Vec<Removal>, StoreError>;

    /// Records that `reader` has read `peer`'s messages up to server time `up_to`; the event
    /// goes into `peer`'s stream. Returns its seq there.
    async fn record_read(
        &self,
        reader: UserId,
        peer: UserId,
        up_to: i64,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// Events of `user`'s stream after `since`, oldest first, scanning at most `limit`
    /// entries. Messages since deleted or expired are left out (their deletion event
    /// follows later in the stream).
    async fn events_since(
        &self,
        user: UserId,
        since: u64,
        limit: u32,
        now: i64,
    ) -> Result<EventPage, StoreError>;

    /// The last seq of `user`'s stream (0 when empty).
    async fn last_seq(&self, user: UserId) -> Result<u64, StoreError>;

    /// The last seq of each user's stream, in one query (users with an empty stream are
    /// answered 0). A node polls it for the users connected to it, to notice events it was
    /// not told about.
    async fn last_seqs(&self, users: &[UserId]) -> Result<Vec<(UserId, u64)>, StoreError>;

    /// Live messages between `user` and `peer` with seq below `before`, newest first.
    async fn history(
        &self,
        user: UserId,
        peer: UserId,
        before: Option<u64>,
        limit: u32,
        now: i64,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Files referenced by no message and created before `cutoff`; they are forgotten in the
    /// same step, so a file is never both attached and taken.
    async fn take_unreferenced_files(&self, cutoff: i64) -> Result<Vec<FileId>, StoreError>;
}
