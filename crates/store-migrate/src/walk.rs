//! Walking one table page by page in key order (keyset pagination: each page starts after
//! the last row of the one before), to copy it and to checksum either side.

use sqlx::{Database, Encode, PgConnection, SqliteConnection, Type};
use uuid::Uuid;

use crate::checksum::Checksum;
use crate::error::{read_failed, target_failed};
use crate::report::{Progress, Summary};
use crate::tables::{KeyValue, Table};
use crate::MigrateError;

type QueryAs<'q, DB, O> = sqlx::query::QueryAs<'q, DB, O, <DB as Database>::Arguments<'q>>;

/// Binds a cursor's values, in order, to a page's statement.
fn bind_key<'q, DB, O>(query: QueryAs<'q, DB, O>, key: Vec<KeyValue>) -> QueryAs<'q, DB, O>
where
    DB: Database,
    Uuid: Encode<'q, DB> + Type<DB>,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
{
    key.into_iter().fold(query, |query, value| match value {
        KeyValue::Uuid(v) => query.bind(v),
        KeyValue::Bytes(v) => query.bind(v),
        KeyValue::Int(v) => query.bind(v),
        KeyValue::Text(v) => query.bind(v),
    })
}

/// The source's rows after `before`, at most `limit` of them.
async fn source_page<T: Table>(
    conn: &mut SqliteConnection,
    before: Option<&T::Row>,
    limit: u32,
) -> Result<Vec<T::Row>, MigrateError> {
    let sql = T::SOURCE.sql(before.is_some(), limit);
    let key = before.map(T::source_key).unwrap_or_default();
    let mut page = bind_key(sqlx::query_as::<_, T::Row>(&sql), key)
        .fetch_all(conn)
        .await
        .map_err(read_failed(T::NAME))?;
    T::complete(&mut page, before);
    Ok(page)
}

/// The target's rows after `before`, at most `limit` of them.
async fn target_page<T: Table>(
    conn: &mut PgConnection,
    before: Option<&T::Row>,
    limit: u32,
) -> Result<Vec<T::Row>, MigrateError> {
    let sql = T::TARGET.sql(before.is_some(), limit);
    let key = before.map(T::target_key).unwrap_or_default();
    bind_key(sqlx::query_as::<_, T::Row>(&sql), key)
        .fetch_all(conn)
        .await
        .map_err(target_failed(T::NAME))
}

/// The source's row count of table `T`.
async fn source_count<T: Table>(conn: &mut SqliteConnection) -> Result<u64, MigrateError> {
    let n: i64 = sqlx::query_scalar(T::SOURCE_COUNT)
        .fetch_one(conn)
        .await
        .map_err(read_failed(T::NAME))?;
    // A count is never negative.
    Ok(n.unsigned_abs())
}

/// The target's row count of table `T`.
async fn target_count<T: Table>(conn: &mut PgConnection) -> Result<u64, MigrateError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", T::NAME))
        .fetch_one(conn)
        .await
        .map_err(target_failed(T::NAME))?;
    Ok(n.unsigned_abs())
}

/// Copies table `T` in pages of `chunk` rows, reporting each page.
pub(crate) async fn copy<T: Table>(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    chunk: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64, MigrateError> {
    let total = source_count::<T>(source).await?;
    let mut copied = 0;
    let mut last: Option<T::Row> = None;
    loop {
        let page = source_page::<T>(source, last.as_ref(), chunk).await?;
        if page.is_empty() {
            break;
        }
        T::insert(target, &page).await?;
        copied += page.len() as u64;
        progress(Progress::Copied {
            table: T::NAME,
            copied,
            total,
        });
        last = page.into_iter().last();
    }
    if copied == 0 {
        progress(Progress::Copied {
            table: T::NAME,
            copied,
            total,
        });
    }
    Ok(copied)
}

/// Counts and checksums the source's table `T`. The walk must see every counted row.
pub(crate) async fn source_summary<T: Table>(
    conn: &mut SqliteConnection,
    chunk: u32,
) -> Result<Summary, MigrateError> {
    let rows = source_count::<T>(conn).await?;
    let mut checksum = Checksum::default();
    let mut last: Option<T::Row> = None;
    loop {
        let page = source_page::<T>(conn, last.as_ref(), chunk).await?;
        page.iter().for_each(|row| checksum.row(row));
        match page.into_iter().last() {
            Some(row) => last = Some(row),
            None => break,
        }
    }
    summary(T::NAME, "SQLite", rows, checksum)
}

/// Counts and checksums the target's table `T`. The walk must see every counted row.
pub(crate) async fn target_summary<T: Table>(
    conn: &mut PgConnection,
    chunk: u32,
) -> Result<Summary, MigrateError> {
    let rows = target_count::<T>(conn).await?;
    let mut checksum = Checksum::default();
    let mut last: Option<T::Row> = None;
    loop {
        let page = target_page::<T>(conn, last.as_ref(), chunk).await?;
        page.iter().for_each(|row| checksum.row(row));
        match page.into_iter().last() {
            Some(row) => last = Some(row),
            None => break,
        }
    }
    summary(T::NAME, "PostgreSQL", rows, checksum)
}

/// The summary of a walk that saw `rows` rows; an error if it saw another number (a walk
/// whose order and cursor disagree would skip or repeat rows).
fn summary(
    table: &'static str,
    side: &'static str,
    rows: u64,
    checksum: Checksum,
) -> Result<Summary, MigrateError> {
    let (walked, sha256) = checksum.finish();
    if walked != rows {
        return Err(MigrateError::Walk {
            table,
            side,
            rows,
            walked,
        });
    }
    Ok(Summary { rows, sha256 })
}
