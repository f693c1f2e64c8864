//! The one place where sqlx errors become `StoreError`.

use securechat_store::StoreError;

/// SQLite's primary result codes (the low byte of an extended code) that say the database
/// cannot take the request now, as opposed to a refused or malformed one.
/// <https://www.sqlite.org/rescode.html>
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PROTOCOL: i64 = 15;

/// Whether an SQLite extended result code is one of the "cannot now" kinds.
fn unavailable_code(extended: i64) -> bool {
    matches!(
        extended & 0xff,
        SQLITE_BUSY
            | SQLITE_LOCKED
            | SQLITE_NOMEM
            | SQLITE_READONLY
            | SQLITE_IOERR
            | SQLITE_FULL
            | SQLITE_CANTOPEN
            | SQLITE_PROTOCOL
    )
}

/// Maps a sqlx error: missing rows to `NotFound`, storage faults (by SQLite's result code) and lost connections to `Unavailable`,
/// everything else to `Other`.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        // Every write that can break a uniqueness rule checks it first under the write lock
        // and names the `Conflict` itself; one that still reaches the database is a bug.
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Other(Box::new(error)),
        sqlx::Error::Database(db)
            if db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .is_some_and(unavailable_code) =>
        {
            StoreError::Unavailable(Box::new(error))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
        _ => StoreError::Other(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_faults_are_told_from_refusals_by_result_code() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (778), SQLITE_READONLY_DBMOVED (1032), SQLITE_BUSY.
        for code in [13, 778, 1032, 5] {
            assert!(unavailable_code(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_ERROR, SQLITE_CORRUPT, SQLITE_MISMATCH.
        for code in [2067, 1, 11, 20] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
