//! `SqliteStore`: securechat's embedded default backend.
//!
//! One file in the data folder, WAL mode, `synchronous=FULL` (a commit is on disk before the
//! server acknowledges anything). Writes go through a single-connection pool, so write
//! transactions never race each other for SQLite's one write lock; reads use a separate pool.

mod accounts;
mod admin;
mod backup;
mod batch;
mod checkpoint;
mod cluster;
mod errors;
mod files;
mod group_messages;
mod groups;
mod messages;
mod migrations;
mod rows;
mod security;
mod sessions;
mod users;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use securechat_store::{Schema, Store, StoreError};

pub use backup::contents_of;
pub(crate) use errors::map_err;
pub use migrations::newest_known as newest_migration;
use writer::Writer;

/// Bytes the write probe writes: readiness after a full disk means room for at least this.
const PROBE_BYTES: i64 = 1024 * 1024;

/// The file a `sqlite://PATH` (or `sqlite:PATH`) database URL names; `None` for any other
/// URL.
pub fn file_of_url(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Writer,
    reader: SqlitePool,
    checkpointer: Arc<checkpoint::Checkpointer>,
    schema: Schema,
    /// How to open one more connection (a backup's, on its own).
    options: SqliteConnectOptions,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations. A
    /// database that cannot be written (a read-only file or folder, a full disk) is refused
    /// here, with the reason, rather than at the first message.
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
            .map_err(|e| match map_err(e) {
                StoreError::Unavailable(e) => unwritable(path, &e),
                other => other,
            })?;
        let migrated = migrations::MIGRATOR.run(&writer).await;
        match migrated {
            Ok(()) => {}
            Err(sqlx::migrate::MigrateError::Execute(e)) => {
                return Err(match map_err(e) {
                    StoreError::Unavailable(e) => unwritable(path, &e),
                    other => other,
                })
            }
            Err(e) => {
                let refusal = migrations::refusal(&writer, e).await;
                writer.close().await;
                return Err(refusal);
            }
        }
        let schema = migrations::applied(&writer).await.map_err(map_err)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone().read_only(true))
            .await
            .map_err(map_err)?;
        let checkpoints = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        let checkpointer = checkpoint::Checkpointer::start(checkpoints);
        let store = Self {
            writer: Writer::new(writer),
            reader,
            checkpointer,
            schema,
            options,
        };
        if let Err(e) = store.probe_write().await {
            store.close().await;
            return Err(unwritable(path, &e));
        }
        Ok(store)
    }

    /// The migrations applied to the database when it was opened.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// A write of `PROBE_BYTES` that must reach the disk: tells whether writes work, and
    /// whether there is room for more than the smallest one (a tiny write can fit in a full
    /// disk's last free page while every message batch fails).
    async fn probe_write(&self) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            sqlx::query(
                "INSERT OR REPLACE INTO write_probe (id, at, pad) VALUES (1, unixepoch(), zeroblob($1))",
            )
            .bind(PROBE_BYTES)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await
        }
        .await;
        self.writer.tracked(result)
    }
}

/// The start-up refusal of a database that cannot be written, in plain words.
fn unwritable(path: &Path, cause: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable(
        format!(
            "the database {} cannot be written ({cause}); securechat needs to write it: \
             check that the file and its folder are writable by this user and that the disk \
             has free space",
            path.display()
        )
        .into(),
    )
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        // While writes fail, readiness depends on a write getting through again; an
        // unauthenticated `/readyz` may ask often, so the probe runs at most once a second.
        if let Some(failure) = self.writer.health().failure() {
            if !self.writer.health().probe_due() {
                return Err(StoreError::Unavailable(failure.into()));
            }
            self.probe_write().await?;
        }
        Ok(())
    }

    fn write_failure(&self) -> Option<String> {
        self.writer.health().failure()
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        self.checkpointer.stop().await;
        self.reader.close().await;
        self.writer.close().await;
    }
}
