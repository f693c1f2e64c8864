//! The SQLite source: opened by `SqliteStore` (which applies its migrations), then read
//! through a read-only connection inside one read transaction, so the copy and its
//! verification see the same snapshot. At the end, SQLite's `data_version` tells whether
//! another connection committed meanwhile (a server still running on the file), whose
//! writes the snapshot would have missed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use securechat_store::Store as _;
use securechat_store_sqlite::SqliteStore;

use crate::error::read_failed;
use crate::MigrateError;

/// The open source database.
pub(crate) struct Source {
    store: SqliteStore,
    pool: SqlitePool,
    snapshot: Transaction<'static, Sqlite>,
    /// `PRAGMA data_version` when the snapshot began.
    version: i64,
}

async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
}

impl Source {
    /// Opens the database file at `path`, which the caller has found to exist (`SqliteStore`
    /// would create a missing one).
    pub(crate) async fn open(path: &Path) -> Result<Self, MigrateError> {
        // Brings the schema up to date (the only write made to the source, with the store's
        // own write probe); the store stays open so the WAL stays readable.
        let store = SqliteStore::open(path)
            .await
            .map_err(|source| MigrateError::OpenSource {
                path: PathBuf::from(path),
                source,
            })?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(10));
        let opened = async {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            let mut snapshot = pool.begin().await?;
            // The first read starts the snapshot.
            sqlx::query("SELECT count(*) FROM users")
                .execute(&mut *snapshot)
                .await?;
            let version = data_version(&mut snapshot).await?;
            Ok::<_, sqlx::Error>((pool, snapshot, version))
        }
        .await;
        match opened {
            Ok((pool, snapshot, version)) => Ok(Self {
                store,
                pool,
                snapshot,
                version,
            }),
            Err(e) => {
                store.close().await;
                Err(read_failed("a consistent snapshot")(e))
            }
        }
    }

    /// The connection of the read transaction.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.snapshot
    }

    /// Ends the read transaction, closes everything, and refuses the snapshot if another
    /// connection committed to the database since it began.
    pub(crate) async fn finish(self) -> Result<(), MigrateError> {
        let checked = async {
            self.snapshot.rollback().await?;
            let mut conn = self.pool.acquire().await?;
            data_version(&mut conn).await
        }
        .await;
        self.pool.close().await;
        self.store.close().await;
        match checked {
            Ok(version) if version == self.version => Ok(()),
            Ok(_) => Err(MigrateError::SourceChanged),
            Err(e) => Err(read_failed("the end of the snapshot")(e)),
        }
    }

    /// Ends the read transaction and closes everything (after a failure).
    pub(crate) async fn close(self) {
        // A read transaction changed nothing; failing to end it only matters to a pool that
        // is closed next anyway.
        let _ = self.snapshot.rollback().await;
        self.pool.close().await;
        self.store.close().await;
    }
}
