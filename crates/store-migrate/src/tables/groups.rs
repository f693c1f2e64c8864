//! Groups: `groups` (each group's last seq), `group_changes` (the signed membership chains)
//! and `group_members` (the membership they lead to).

use sqlx::PgConnection;
use uuid::Uuid;

use super::{column, KeyValue, Table, Walk};
use crate::checksum::{Canonical, Checksum};
use crate::error::target_failed;
use crate::MigrateError;

/// `groups`, by id.
pub(crate) struct Groups;

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    id: Uuid,
    head_seq: i64,
    created_at: i64,
}

impl Canonical for GroupRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.id);
        out.int(self.head_seq);
        out.int(self.created_at);
    }
}

const GROUPS: Walk = Walk {
    select: "SELECT id, head_seq, created_at FROM groups",
    after: "id > $1",
    order: "id",
};

impl Table for Groups {
    const NAME: &'static str = "groups";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM groups";
    const SOURCE: Walk = GROUPS;
    const TARGET: Walk = GROUPS;
    type Row = GroupRow;

    fn source_key(row: &GroupRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.id)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[GroupRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO groups (id, head_seq, created_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::int8[])",
        )
        .bind(column(rows, |r| r.id))
        .bind(column(rows, |r| r.head_seq))
        .bind(column(rows, |r| r.created_at))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `group_changes`, by group and seq.
pub(crate) struct GroupChanges;

#[derive(sqlx::FromRow)]
pub(crate) struct GroupChangeRow {
    group_id: Uuid,
    seq: i64,
    change: Vec<u8>,
    sig: Vec<u8>,
    stored_at: i64,
}

impl Canonical for GroupChangeRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.group_id);
        out.int(self.seq);
        out.bytes(&self.change);
        out.bytes(&self.sig);
        out.int(self.stored_at);
    }
}

const CHANGES: Walk = Walk {
    select: "SELECT group_id, seq, change, sig, stored_at FROM group_changes",
    after: "(group_id, seq) > ($1, $2)",
    order: "group_id, seq",
};

impl Table for GroupChanges {
    const NAME: &'static str = "group_changes";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM group_changes";
    const SOURCE: Walk = CHANGES;
    const TARGET: Walk = CHANGES;
    type Row = GroupChangeRow;

    fn source_key(row: &GroupChangeRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.group_id), KeyValue::Int(row.seq)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[GroupChangeRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO group_changes (group_id, seq, change, sig, stored_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::bytea[], $4::bytea[], $5::int8[])",
        )
        .bind(column(rows, |r| r.group_id))
        .bind(column(rows, |r| r.seq))
        .bind(column(rows, |r| r.change.as_slice()))
        .bind(column(rows, |r| r.sig.as_slice()))
        .bind(column(rows, |r| r.stored_at))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `group_members`, by group and user.
pub(crate) struct GroupMembers;

#[derive(sqlx::FromRow)]
pub(crate) struct GroupMemberRow {
    group_id: Uuid,
    user_id: Uuid,
    admin: bool,
}

impl Canonical for GroupMemberRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.group_id);
        out.uuid(&self.user_id);
        out.int(i64::from(self.admin));
    }
}

const MEMBERS: Walk = Walk {
    select: "SELECT group_id, user_id, admin FROM group_members",
    after: "(group_id, user_id) > ($1, $2)",
    order: "group_id, user_id",
};

impl Table for GroupMembers {
    const NAME: &'static str = "group_members";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM group_members";
    const SOURCE: Walk = MEMBERS;
    const TARGET: Walk = MEMBERS;
    type Row = GroupMemberRow;

    fn source_key(row: &GroupMemberRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.group_id), KeyValue::Uuid(row.user_id)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[GroupMemberRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, admin) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bool[])",
        )
        .bind(column(rows, |r| r.group_id))
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.admin))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}
