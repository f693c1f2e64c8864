//! Messages and what refers to them: `messages` (removed ones too), the users' `inbox`
//! streams (every kind of event) and `files`.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{column, KeyValue, Table, Walk};
use crate::checksum::{Canonical, Checksum};
use crate::error::target_failed;
use crate::MigrateError;

/// `messages`, by id (ids are kept: stream entries and files refer to them).
pub(crate) struct Messages;

/// A row of `messages`. The stream positions may be NULL in SQLite's schema (columns added
/// later), never in PostgreSQL's; a NULL one is refused before anything is written.
#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: i64,
    sender: Uuid,
    msg_id: Vec<u8>,
    recipient: Uuid,
    envelope: Option<String>,
    digest: Vec<u8>,
    received_at: i64,
    expires_at: Option<i64>,
    removed_at: Option<i64>,
    sender_seq: Option<i64>,
    recipient_seq: Option<i64>,
    group_id: Option<Uuid>,
}

impl Canonical for MessageRow {
    fn write(&self, out: &mut Checksum) {
        out.int(self.id);
        out.uuid(&self.sender);
        out.bytes(&self.msg_id);
        out.uuid(&self.recipient);
        out.opt_text(self.envelope.as_deref());
        out.bytes(&self.digest);
        out.int(self.received_at);
        out.opt_int(self.expires_at);
        out.opt_int(self.removed_at);
        out.opt_int(self.sender_seq);
        out.opt_int(self.recipient_seq);
        out.opt_uuid(self.group_id.as_ref());
    }
}

const MESSAGES: Walk = Walk {
    select: "SELECT id, sender, msg_id, recipient, envelope, digest, received_at, expires_at, \
             removed_at, sender_seq, recipient_seq, group_id FROM messages",
    after: "id > $1",
    order: "id",
};

impl Table for Messages {
    const NAME: &'static str = "messages";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM messages";
    const SOURCE: Walk = MESSAGES;
    const TARGET: Walk = MESSAGES;
    type Row = MessageRow;

    fn source_key(row: &MessageRow) -> Vec<KeyValue> {
        vec![KeyValue::Int(row.id)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[MessageRow]) -> Result<(), MigrateError> {
        if let Some(row) = rows
            .iter()
            .find(|r| r.sender_seq.is_none() || r.recipient_seq.is_none())
        {
            return Err(MigrateError::Inconsistent(format!(
                "message {} has no place in its sender's or its recipient's stream \
                 (messages.sender_seq / recipient_seq is NULL)",
                row.id
            )));
        }
        sqlx::query(
            "INSERT INTO messages (id, sender, msg_id, recipient, envelope, digest, \
                                   received_at, expires_at, removed_at, sender_seq, \
                                   recipient_seq, group_id) \
             SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::bytea[], $4::uuid[], \
                                  $5::text[], $6::bytea[], $7::int8[], $8::int8[], \
                                  $9::int8[], $10::int8[], $11::int8[], $12::uuid[])",
        )
        .bind(column(rows, |r| r.id))
        .bind(column(rows, |r| r.sender))
        .bind(column(rows, |r| r.msg_id.as_slice()))
        .bind(column(rows, |r| r.recipient))
        .bind(column(rows, |r| r.envelope.as_deref()))
        .bind(column(rows, |r| r.digest.as_slice()))
        .bind(column(rows, |r| r.received_at))
        .bind(column(rows, |r| r.expires_at))
        .bind(column(rows, |r| r.removed_at))
        .bind(column(rows, |r| r.sender_seq))
        .bind(column(rows, |r| r.recipient_seq))
        .bind(column(rows, |r| r.group_id))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `inbox`: every user's stream (message, deleted and read events), by user then seq.
pub(crate) struct Inbox;

/// A row of `inbox`.
#[derive(sqlx::FromRow)]
pub(crate) struct InboxRow {
    user_id: Uuid,
    seq: i64,
    kind: String,
    peer: Uuid,
    message: Option<i64>,
    tombstone: Option<String>,
    up_to: Option<i64>,
    ts: i64,
    group_id: Option<Uuid>,
}

impl Canonical for InboxRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.user_id);
        out.int(self.seq);
        out.text(&self.kind);
        out.uuid(&self.peer);
        out.opt_int(self.message);
        out.opt_text(self.tombstone.as_deref());
        out.opt_int(self.up_to);
        out.int(self.ts);
        out.opt_uuid(self.group_id.as_ref());
    }
}

const INBOX: Walk = Walk {
    select: "SELECT user_id, seq, kind, peer, message, tombstone, up_to, ts, group_id FROM inbox",
    after: "(user_id, seq) > ($1, $2)",
    order: "user_id, seq",
};

impl Table for Inbox {
    const NAME: &'static str = "inbox";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM inbox";
    const SOURCE: Walk = INBOX;
    const TARGET: Walk = INBOX;
    type Row = InboxRow;

    fn source_key(row: &InboxRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.user_id), KeyValue::Int(row.seq)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[InboxRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO inbox (user_id, seq, kind, peer, message, tombstone, up_to, ts, \
                                group_id) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::text[], $4::uuid[], \
                                  $5::int8[], $6::text[], $7::int8[], $8::int8[], $9::uuid[])",
        )
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.seq))
        .bind(column(rows, |r| r.kind.as_str()))
        .bind(column(rows, |r| r.peer))
        .bind(column(rows, |r| r.message))
        .bind(column(rows, |r| r.tombstone.as_deref()))
        .bind(column(rows, |r| r.up_to))
        .bind(column(rows, |r| r.ts))
        .bind(column(rows, |r| r.group_id))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `files`: upload records, with the message that carries each (if any yet), by id.
pub(crate) struct Files;

/// A row of `files`.
#[derive(sqlx::FromRow)]
pub(crate) struct FileRow {
    id: Vec<u8>,
    uploader: Uuid,
    recipient: Uuid,
    size: i64,
    created_at: i64,
    message: Option<i64>,
}

impl Canonical for FileRow {
    fn write(&self, out: &mut Checksum) {
        out.bytes(&self.id);
        out.uuid(&self.uploader);
        out.uuid(&self.recipient);
        out.int(self.size);
        out.int(self.created_at);
        out.opt_int(self.message);
    }
}

const FILES: Walk = Walk {
    select: "SELECT id, uploader, recipient, size, created_at, message FROM files",
    after: "id > $1",
    order: "id",
};

impl Table for Files {
    const NAME: &'static str = "files";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM files";
    const SOURCE: Walk = FILES;
    const TARGET: Walk = FILES;
    type Row = FileRow;

    fn source_key(row: &FileRow) -> Vec<KeyValue> {
        vec![KeyValue::Bytes(row.id.clone())]
    }

    async fn insert(conn: &mut PgConnection, rows: &[FileRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO files (id, uploader, recipient, size, created_at, message) \
             SELECT * FROM UNNEST($1::bytea[], $2::uuid[], $3::uuid[], $4::int8[], \
                                  $5::int8[], $6::int8[])",
        )
        .bind(column(rows, |r| r.id.as_slice()))
        .bind(column(rows, |r| r.uploader))
        .bind(column(rows, |r| r.recipient))
        .bind(column(rows, |r| r.size))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.message))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}
