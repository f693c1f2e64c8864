//! Why a migration failed, in words an operator can act on.

use std::path::PathBuf;

use securechat_store::StoreError;

use crate::report::TableCheck;

/// A failed migration. Whatever the failure, the target holds no copied data afterwards:
/// the copy is one transaction, rolled back unless every table verified. The cause of a
/// failed step is its `source()`, not part of its message.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source file does not exist (it is not created: that would migrate nothing).
    #[error("there is no SQLite database at {0}")]
    SourceMissing(PathBuf),
    /// The source could not be opened, or its migrations could not be applied.
    #[error("cannot open the SQLite database {path}")]
    OpenSource {
        /// The source file.
        path: PathBuf,
        /// What the SQLite store said.
        source: StoreError,
    },
    /// Something was written to the source while it was copied: a server still runs on it.
    #[error(
        "the SQLite database was written to while it was copied (is a securechat server still \
         running on it?): the copy was rolled back and the PostgreSQL database holds no data; \
         stop the server and run migrate-store again"
    )]
    SourceChanged,
    /// The target URL is not a PostgreSQL URL sqlx can use.
    #[error("the PostgreSQL URL is not usable")]
    TargetUrl(#[source] sqlx::Error),
    /// The target could not be reached.
    #[error("cannot connect to the PostgreSQL database {url}")]
    ConnectTarget {
        /// Its URL, without password.
        url: String,
        /// What sqlx said.
        source: sqlx::Error,
    },
    /// The target could not be migrated or written (what `PostgresStore::connect` said).
    #[error("cannot prepare the PostgreSQL database")]
    OpenTarget(#[source] StoreError),
    /// The target already holds data.
    #[error(
        "the PostgreSQL database already holds data ({table} has {rows} rows): migrate-store \
         only copies into an empty database, and changed nothing; give it a new database, or \
         empty this one first"
    )]
    TargetNotEmpty {
        /// The first table found holding rows.
        table: &'static str,
        /// How many it holds.
        rows: i64,
    },
    /// Reading the source failed.
    #[error("reading {step} from the SQLite database failed")]
    Source {
        /// The table (or step) being read.
        step: &'static str,
        /// What sqlx said.
        source: sqlx::Error,
    },
    /// A statement on the target failed.
    #[error("the PostgreSQL database failed at {step}")]
    Target {
        /// The table (or step) being written or read.
        step: &'static str,
        /// What sqlx said.
        source: sqlx::Error,
    },
    /// The final COMMIT failed: the copy may or may not have been committed (the connection
    /// can drop after the server committed).
    #[error(
        "the final COMMIT failed, so whether the copy was committed is unknown: look at the \
         PostgreSQL database (run migrate-store again: it refuses a database that holds data, \
         and copies into an empty one)"
    )]
    CommitUnknown(#[source] sqlx::Error),
    /// The source holds something the target's schema cannot take.
    #[error("the SQLite database is not consistent: {0}")]
    Inconsistent(String),
    /// Reading a table in key order saw another number of rows than it holds: a fault of
    /// migrate-store itself (its order and its cursor disagree).
    #[error(
        "reading {table} of the {side} database in key order saw {walked} of its {rows} rows \
         (a fault of migrate-store; nothing was kept)"
    )]
    Walk {
        /// The table read.
        table: &'static str,
        /// Which database ("SQLite", "PostgreSQL").
        side: &'static str,
        /// Rows the table holds.
        rows: u64,
        /// Rows the walk saw.
        walked: u64,
    },
    /// The copy read back from the target differs from the source.
    #[error(
        "verification failed for {}: the copy was rolled back and the PostgreSQL database \
         holds no data",
        differing(.0)
    )]
    Mismatch(Vec<TableCheck>),
}

/// The names of the tables whose checks differ.
fn differing(checks: &[TableCheck]) -> String {
    let names: Vec<&str> = checks
        .iter()
        .filter(|c| !c.matches())
        .map(|c| c.table)
        .collect();
    names.join(", ")
}

/// The error of a failed read of `step` from the source.
pub(crate) fn read_failed(step: &'static str) -> impl FnOnce(sqlx::Error) -> MigrateError {
    move |source| MigrateError::Source { step, source }
}

/// The error of a failed statement on the target during `step`.
pub(crate) fn target_failed(step: &'static str) -> impl FnOnce(sqlx::Error) -> MigrateError {
    move |source| MigrateError::Target { step, source }
}
