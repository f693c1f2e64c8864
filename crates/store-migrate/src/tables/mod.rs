//! The tables copied: for each, its rows, how both databases are walked in key order, and
//! how a page is written to PostgreSQL.

pub(crate) mod accounts;
pub(crate) mod codes;
pub(crate) mod groups;
pub(crate) mod messages;
pub(crate) mod security;
pub(crate) mod sessions;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::checksum::Canonical;
use crate::MigrateError;

/// Every table that holds data, in copy order (a table after those its rows refer to).
pub(crate) const DATA_TABLES: [&str; 15] = [
    accounts::Users::NAME,
    accounts::Streams::NAME,
    accounts::EncryptionKeys::NAME,
    sessions::Sessions::NAME,
    sessions::RefreshTokens::NAME,
    sessions::LoginSources::NAME,
    messages::Messages::NAME,
    messages::Inbox::NAME,
    messages::Files::NAME,
    codes::Invites::NAME,
    codes::PasswordResets::NAME,
    security::SecurityEvents::NAME,
    groups::Groups::NAME,
    groups::GroupChanges::NAME,
    groups::GroupMembers::NAME,
];

/// One column value of a keyset cursor (the last row of the previous page).
pub(crate) enum KeyValue {
    Uuid(Uuid),
    Bytes(Vec<u8>),
    Int(i64),
    Text(String),
}

/// How one database is read page by page: `SELECT columns FROM …`, then
/// `WHERE <after> ORDER BY <order> LIMIT n`, `after` comparing the key with `$1`, `$2`, ….
pub(crate) struct Walk {
    pub(crate) select: &'static str,
    pub(crate) after: &'static str,
    pub(crate) order: &'static str,
}

impl Walk {
    /// The statement reading the first page, or the page after a cursor.
    pub(crate) fn sql(&self, after_cursor: bool, limit: u32) -> String {
        let Self {
            select,
            after,
            order,
        } = self;
        if after_cursor {
            format!("{select} WHERE {after} ORDER BY {order} LIMIT {limit}")
        } else {
            format!("{select} ORDER BY {order} LIMIT {limit}")
        }
    }
}

/// A table copied from SQLite to PostgreSQL. Both walks visit the rows in the same order,
/// so the canonical serialization of one side's walk equals the other's exactly when the
/// tables hold the same rows.
pub(crate) trait Table {
    /// The table's name in both schemas.
    const NAME: &'static str;
    /// Counts the source's rows.
    const SOURCE_COUNT: &'static str;
    /// Reading the SQLite source.
    const SOURCE: Walk;
    /// Reading the PostgreSQL target.
    const TARGET: Walk;

    /// One row, as both databases return it.
    type Row: Canonical + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin;

    /// The cursor values `SOURCE.after` compares with.
    fn source_key(row: &Self::Row) -> Vec<KeyValue>;

    /// The cursor values `TARGET.after` compares with.
    fn target_key(row: &Self::Row) -> Vec<KeyValue> {
        Self::source_key(row)
    }

    /// Completes a page read from the source (values the target keeps but the source only
    /// implies), given the last row of the page before.
    fn complete(_page: &mut [Self::Row], _before: Option<&Self::Row>) {}

    /// Inserts a page into the target.
    async fn insert(conn: &mut PgConnection, rows: &[Self::Row]) -> Result<(), MigrateError>;
}

/// Values of one column of a page, for `UNNEST`.
pub(crate) fn column<'a, R, T>(rows: &'a [R], value: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}
