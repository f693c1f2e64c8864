//! Logins: `sessions`, their `refresh_tokens` and the users' `login_sources`.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{column, KeyValue, Table, Walk};
use crate::checksum::{Canonical, Checksum};
use crate::error::target_failed;
use crate::MigrateError;

/// `sessions`, by id.
pub(crate) struct Sessions;

/// A row of `sessions`.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    ip: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl Canonical for SessionRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.id);
        out.uuid(&self.user_id);
        out.text(&self.ip);
        out.int(self.created_at);
        out.int(self.expires_at);
        out.opt_int(self.revoked_at);
    }
}

const SESSIONS: Walk = Walk {
    select: "SELECT id, user_id, ip, created_at, expires_at, revoked_at FROM sessions",
    after: "id > $1",
    order: "id",
};

impl Table for Sessions {
    const NAME: &'static str = "sessions";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM sessions";
    const SOURCE: Walk = SESSIONS;
    const TARGET: Walk = SESSIONS;
    type Row = SessionRow;

    fn source_key(row: &SessionRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.id)]
    }

    async fn insert(conn: &mut PgConnection, rows: &[SessionRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, ip, created_at, expires_at, revoked_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int8[], \
                                  $5::int8[], $6::int8[])",
        )
        .bind(column(rows, |r| r.id))
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.ip.as_str()))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.expires_at))
        .bind(column(rows, |r| r.revoked_at))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `refresh_tokens`, by hash: current and rotated ones, with their successors.
pub(crate) struct RefreshTokens;

/// A row of `refresh_tokens`.
#[derive(sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    hash: Vec<u8>,
    session_id: Uuid,
    created_at: i64,
    rotated_at: Option<i64>,
    successor: Option<Vec<u8>>,
}

impl Canonical for RefreshTokenRow {
    fn write(&self, out: &mut Checksum) {
        out.bytes(&self.hash);
        out.uuid(&self.session_id);
        out.int(self.created_at);
        out.opt_int(self.rotated_at);
        out.opt_bytes(self.successor.as_deref());
    }
}

const REFRESH_TOKENS: Walk = Walk {
    select: "SELECT hash, session_id, created_at, rotated_at, successor FROM refresh_tokens",
    after: "hash > $1",
    order: "hash",
};

impl Table for RefreshTokens {
    const NAME: &'static str = "refresh_tokens";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM refresh_tokens";
    const SOURCE: Walk = REFRESH_TOKENS;
    const TARGET: Walk = REFRESH_TOKENS;
    type Row = RefreshTokenRow;

    fn source_key(row: &RefreshTokenRow) -> Vec<KeyValue> {
        vec![KeyValue::Bytes(row.hash.clone())]
    }

    async fn insert(conn: &mut PgConnection, rows: &[RefreshTokenRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, session_id, created_at, rotated_at, successor) \
             SELECT * FROM UNNEST($1::bytea[], $2::uuid[], $3::int8[], $4::int8[], \
                                  $5::bytea[])",
        )
        .bind(column(rows, |r| r.hash.as_slice()))
        .bind(column(rows, |r| r.session_id))
        .bind(column(rows, |r| r.created_at))
        .bind(column(rows, |r| r.rotated_at))
        .bind(column(rows, |r| r.successor.as_deref()))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}

/// `login_sources`, by user then address. Addresses are compared byte by byte on both sides
/// (SQLite's `BINARY`, PostgreSQL's `"C"` collation), so both walks agree on the order.
pub(crate) struct LoginSources;

/// A row of `login_sources`.
#[derive(sqlx::FromRow)]
pub(crate) struct LoginSourceRow {
    user_id: Uuid,
    ip: String,
    last_login_at: i64,
}

impl Canonical for LoginSourceRow {
    fn write(&self, out: &mut Checksum) {
        out.uuid(&self.user_id);
        out.text(&self.ip);
        out.int(self.last_login_at);
    }
}

impl Table for LoginSources {
    const NAME: &'static str = "login_sources";
    const SOURCE_COUNT: &'static str = "SELECT count(*) FROM login_sources";
    const SOURCE: Walk = Walk {
        select: "SELECT user_id, ip, last_login_at FROM login_sources",
        after: "(user_id, ip) > ($1, $2)",
        order: "user_id, ip",
    };
    const TARGET: Walk = Walk {
        select: "SELECT user_id, ip, last_login_at FROM login_sources",
        after: "(user_id, ip COLLATE \"C\") > ($1, $2)",
        order: "user_id, ip COLLATE \"C\"",
    };
    type Row = LoginSourceRow;

    fn source_key(row: &LoginSourceRow) -> Vec<KeyValue> {
        vec![KeyValue::Uuid(row.user_id), KeyValue::Text(row.ip.clone())]
    }

    async fn insert(conn: &mut PgConnection, rows: &[LoginSourceRow]) -> Result<(), MigrateError> {
        sqlx::query(
            "INSERT INTO login_sources (user_id, ip, last_login_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int8[])",
        )
        .bind(column(rows, |r| r.user_id))
        .bind(column(rows, |r| r.ip.as_str()))
        .bind(column(rows, |r| r.last_login_at))
        .execute(conn)
        .await
        .map_err(target_failed(Self::NAME))?;
        Ok(())
    }
}
