//! One-time codes: `invites` (registration by invitation) and `password_resets`.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{column, KeyValue, Table, Walk};
use crate::checksum::{Canonical, Checksum};
use crate::error::target_failed;
use crate::MigrateError;

/// `invites`, by code hash.
pub(crate) struct Invites;

/// A row of `invites`.
#[derive(sqlx::FromRow)]
pub(crate) struct InviteRow {
    code_hash: Vec<u8>,
    note: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    used_by: Option<Uuid>,
}

impl Canonical for InviteRow {
    fn write(&self, out: &mut Checksum) {
        out.bytes(&self.code_hash);
        out.text(&self.note);
        out.int(self.created_at);
        out.int(self.expires_at);
        out.opt_int(self.used_at);
        out.opt_bytes(self.used_by.as_ref().map(|u| &u.as_bytes()[..]));
    }
}

const INVITES: Walk = Walk {
    select: "SELECT code_hash, note, created_at, expires_at, used_at, used_by FROM invites",
    after: "code_hash > $1",
    order: "code_hash",
};

impl Table for Invites {
    const NAME: &'static str = "invites";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM invites";
    const SOURCE: Walk = INVITES;
    const TARGET: Walk = INVITES;
    type Row = InviteRow;

    fn source_key(row: &InviteRow) -> Vec<KeyValue> {
        vec![KeyValue::Bytes(row.code_hash.clone())]
    }

    async fn insert(conn: &mut PgConnection, rows: &[InviteRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO invites (code_hash, note, created_at, expires_at, used_at, used_by) \
             SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::int8[], $4::int8[], \
                                  $5::int8[], $6::uuid[])",
        )
        .bind(column(rows, |r| r.code_hash.as_slice()))
        .bind(column(rows, |r| r.note.as_str()))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.expires_at))
        .bind(column(rows, |r| r.used_at))
        .bind(column(rows, |r| r.used_by))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `password_resets`, by code hash.
pub(crate) struct PasswordResets;

/// A row of `password_resets`.
#[derive(sqlx::FromRow)]
pub(crate) struct ResetRow {
    code_hash: Vec<u8>,
    user_id: Uuid,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl Canonical for ResetRow {
    fn write(&self, out: &mut Checksum) {
        out.bytes(&self.code_hash);
        out.uuid(&self.user_id);
        out.int(self.created_at);
        out.int(self.expires_at);
        out.opt_int(self.used_at);
    }
}

const RESETS: Walk = Walk {
    select: "SELECT code_hash, user_id, created_at, expires_at, used_at FROM password_resets",
    after: "code_hash > $1",
    order: "code_hash",
};

impl Table for PasswordResets {
    const NAME: &'static str = "password_resets";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM password_resets";
    const SOURCE: Walk = RESETS;
    const TARGET: Walk = RESETS;
    type Row = ResetRow;

    fn source_key(row: &ResetRow) -> Vec<KeyValue> {
        vec![KeyValue::Bytes(row.code_hash.clone())]
    }

    async fn insert(conn: &mut PgConnection, rows: &[ResetRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO password_resets (code_hash, user_id, created_at, expires_at, used_at) \
             SELECT * FROM UNNEST($1::bytea[], $2::uuid[], $3::int8[], $4::int8[], $5::int8[])",
        )
        .bind(column(rows, |r| r.code_hash.as_slice()))
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.expires_at))
        .bind(column(rows, |r| r.used_at))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}
