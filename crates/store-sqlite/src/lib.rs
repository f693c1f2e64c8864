//! `SqliteStore`: securechat's embedded default backend.
//!
//! One file in the data folder, WAL mode, `synchronous=FULL` (a commit is on disk before the
//! server acknowledges anything). Writes go through a single-connection pool, so write
//! transactions never race each other for SQLite's one write lock; reads use a separate pool.

mod batch;
mod checkpoint;
mod errors;
mod files;
mod messages;
mod rows;
mod sessions;
mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use securechat_store::{Store, StoreError};

pub(crate) use errors::map_err;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    checkpointer: Arc<checkpoint::Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 64 MiB of page cache and of WAL between the writer's own checkpoints, which the
            // `checkpoint` task keeps short; statement journals stay in memory instead of a
            // temp file (a batch's multi-row insert wrote every page it touched there too).
            .pragma("cache_size", "-65536")
            .pragma("wal_autocheckpoint", "16384")
            .pragma("temp_store", "MEMORY");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone().read_only(true))
            .await
            .map_err(map_err)?;
        let checkpoints = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        let checkpointer = checkpoint::Checkpointer::start(checkpoints);
        Ok(Self {
            writer,
            reader,
            checkpointer,
        })
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.checkpointer.stop();
        self.reader.close().await;
        self.writer.close().await;
    }
}
