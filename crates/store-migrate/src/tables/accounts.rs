//! Accounts: `users`, their `streams` counters and their `encryption_keys` history.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{column, KeyValue, Table, Walk};
use crate::checksum::{Canonical, Checksum};
use crate::error::target_failed;
use crate::MigrateError;

/// `users`, by id.
pub(crate) struct Users;

/// A row of `users`.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    password_hash: String,
    opaque_record: Option<Vec<u8>>,
    identity_key: Vec<u8>,
    created_at: i64,
    deleted_at: Option<i64>,
    disabled_at: Option<i64>,
}

impl Canonical for UserRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.id);
        out.text(&self.username);
        out.text(&self.email);
        out.text(&self.password_hash);
        out.opt_bytes(self.opaque_record.as_deref());
        out.bytes(&self.identity_key);
        out.int(self.created_at);
        out.opt_int(self.deleted_at);
        out.opt_int(self.disabled_at);
    }
}

const USERS: Walk = Walk {
    select: "SELECT id, username, email, password_hash, opaque_record, identity_key, created_at, \
             deleted_at, disabled_at FROM users",
    after: "id > $1",
    order: "id",
};

impl Table for Users {
    const NAME: &'static str = "users";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM users";
    const SOURCE: Walk = USERS;
    const TARGET: Walk = USERS;
    type Row = UserRow;

    fn source_key(row: &UserRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.id)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[UserRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO users \
                 (id, username, email, password_hash, opaque_record, identity_key, created_at, \
                  deleted_at, disabled_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], \
                                  $6::bytea[], $7::int8[], $8::int8[], $9::int8[])",
        )
        .bind(column(rows, |r| r.id))
        .bind(column(rows, |r| r.username.as_str()))
        .bind(column(rows, |r| r.email.as_str()))
        .bind(column(rows, |r| r.password_hash.as_str()))
        .bind(column(rows, |r| r.opaque_record.as_deref()))
        .bind(column(rows, |r| r.identity_key.as_slice()))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.deleted_at))
        .bind(column(rows, |r| r.disabled_at))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `streams`: one counter per user, the last seq of the user's inbox (0 when empty). SQLite
/// has no such table; its values are read from `inbox`.
pub(crate) struct Streams;

/// A row of `streams`.
#[derive(sqlx::FromRow)]
pub(crate) struct StreamRow {
    user_id: Uuid,
    last_seq: i64,
}

impl Canonical for StreamRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.user_id);
        out.int(self.last_seq);
    }
}

impl Table for Streams {
    const NAME: &'static str = "streams";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM users";
    const SOURCE: Walk = Walk {
        select: "SELECT u.id AS user_id, \
                 COALESCE((SELECT MAX(i.seq) FROM inbox i WHERE i.user_id = u.id), 0) AS last_seq \
                 FROM users u",
        after: "u.id > $1",
        order: "u.id",
    };
    const TARGET: Walk = Walk {
        select: "SELECT user_id, last_seq FROM streams",
        after: "user_id > $1",
        order: "user_id",
    };
    type Row = StreamRow;

    fn source_key(row: &StreamRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.user_id)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[StreamRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO streams (user_id, last_seq) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[])",
        )
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.last_seq))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `encryption_keys`, in publication order: SQLite's `(created_at, rowid)`, which becomes
/// PostgreSQL's `position` (1, 2, … over the whole table).
pub(crate) struct EncryptionKeys;

/// A row of `encryption_keys`.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    user_id: Uuid,
    key_id: Vec<u8>,
    x25519: Vec<u8>,
    created_at: i64,
    binding_sig: Vec<u8>,
    status: String,
    /// The place in publication order; given to source rows by `complete`.
    #[sqlx(default)]
    position: i64,
    /// SQLite's rowid (source rows only): the cursor, not data.
    #[sqlx(default)]
    source_rowid: i64,
}

impl Canonical for KeyRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.user_id);
        out.bytes(&self.key_id);
        out.bytes(&self.x25519);
        out.int(self.created_at);
        out.bytes(&self.binding_sig);
        out.text(&self.status);
        out.int(self.position);
    }
}

impl Table for EncryptionKeys {
    const NAME: &'static str = "encryption_keys";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM encryption_keys";
    const SOURCE: Walk = Walk {
        select: "SELECT user_id, key_id, x25519, created_at, binding_sig, status, \
                 rowid AS source_rowid FROM encryption_keys",
        after: "(created_at, rowid) > ($1, $2)",
        order: "created_at, rowid",
    };
    const TARGET: Walk = Walk {
        select: "SELECT user_id, key_id, x25519, created_at, binding_sig, status, position \
                 FROM encryption_keys",
        after: "position > $1",
        order: "position",
    };
    type Row = KeyRow;

    fn source_key(row: &KeyRow) -> Vec<KeyValue> {
        vec![
            KeyValue::Int(row.created_at),
            KeyValue::Int(row.source_rowid),
        ]
    }

    fn target_key(row: &KeyRow) -> Vec<KeyValue> {
        vec![KeyValue::Int(row.position)]
    }

    fn complete(page: &mut [KeyRow], before: Option<&KeyRow>) {
        let mut position = before.map_or(0, |r| r.position);
        for row in page {
            position += 1;
            row.position = position;
        }
    }

    async fn insert(conn: &mut PgConnection, rows: &[KeyRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO encryption_keys \
                 (user_id, key_id, x25519, created_at, binding_sig, status, position) \
             SELECT * FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[], $4::int8[], \
                                  $5::bytea[], $6::text[], $7::int8[])",
        )
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.key_id.as_slice()))
        .bind(column(rows, |r| r.x25519.as_slice()))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.binding_sig.as_slice()))
        .bind(column(rows, |r| r.status.as_str()))
        .bind(column(rows, |r| r.position))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}
