//! The security event log: `security_events` (refusals, blocks and operators' unblocks).

use sqlx::PgConnection;
use uuid::Uuid;

use super::{column, KeyValue, Table, Walk};
use crate::checksum::{Canonical, Checksum};
use crate::error::target_failed;
use crate::MigrateError;

/// `security_events`, by id (kept: they tell the order events were recorded in).
pub(crate) struct SecurityEvents;

/// A row of `security_events`.
#[derive(sqlx::FromRow)]
pub(crate) struct SecurityEventRow {
    id: i64,
    at: i64,
    kind: String,
    ip: Option<String>,
    user_id: Option<Uuid>,
    login: Option<String>,
    count: i64,
}

impl Canonical for SecurityEventRow {
    fn write(&self, out: &mut Checksum) {
        out.int(self.id);
        out.int(self.at);
        out.text(&self.kind);
        out.opt_text(self.ip.as_deref());
        out.opt_bytes(self.user_id.as_ref().map(|u| &u.as_bytes()[..]));
        out.opt_text(self.login.as_deref());
        out.int(self.count);
    }
}

const EVENTS: Walk = Walk {
    select: "SELECT id, at, kind, ip, user_id, login, count FROM security_events",
    after: "id > $1",
    order: "id",
};

impl Table for SecurityEvents {
    const NAME: &'static str = "security_events";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM security_events";
    const SOURCE: Walk = EVENTS;
    const TARGET: Walk = EVENTS;
    type Row = SecurityEventRow;

    fn source_key(row: &SecurityEventRow) -> Vec<KeyValue> {
        vec![KeyValue::Int(row.id)]
    }

    async fn insert(
        conn: &mut PgConnection,
        rows: &[SecurityEventRow],
    ) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO security_events (id, at, kind, ip, user_id, login, count) \
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], \
                                  $5::uuid[], $6::text[], $7::int8[])",
        )
        .bind(column(rows, |r| r.id))
        .bind(column(rows, |r| r.at))
        .bind(column(rows, |r| r.kind.as_str()))
        .bind(column(rows, |r| r.ip.as_deref()))
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.login.as_deref()))
        .bind(column(rows, |r| r.count))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}
