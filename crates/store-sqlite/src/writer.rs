//! The single writer connection, lent out one transaction at a time, and whether writes work.
//!
//! When a COMMIT fails (disk full, I/O error, read-only file), SQLite rolls the transaction
//! back by itself. sqlx's own transaction wrapper does not notice: its depth stays at one,
//! and every later `begin()` on that connection becomes a SAVEPOINT inside a transaction that
//! never ends, so later "commits" succeed without anything reaching the file. Here a
//! transaction is plain `BEGIN IMMEDIATE` … `COMMIT` on a pooled connection, and a connection
//! whose transaction did not commit is closed, never reused: the pool opens a fresh one for
//! the next write. Only a COMMIT that returned success counts as stored.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use securechat_store::health::WriteHealth;
use securechat_store::StoreError;

use crate::map_err;

/// The writer pool (one connection) and the state of writes.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pool: SqlitePool,
    health: Arc<WriteHealth>,
}

impl Writer {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            health: Arc::default(),
        }
    }

    pub(crate) fn health(&self) -> &WriteHealth {
        &self.health
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: the write lock is taken at once).
    pub(crate) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
            conn.close_on_drop();
            return Err(map_err(e));
        }
        Ok(WriteTx {
            conn,
            finished: false,
            health: self.health.clone(),
        })
    }

    /// Passes a write's result through, noting a storage failure (a write's own refusals,
    /// such as a uniqueness conflict, say nothing about the database).
    pub(crate) fn tracked<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.health.tracked(result)
    }

    /// Closes the pool (graceful shutdown).
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// An open write transaction. Dropped without a successful `commit` or `rollback`, it closes
/// its connection, which rolls the transaction back and keeps the connection from being
/// reused.
#[derive(Debug)]
pub(crate) struct WriteTx {
    conn: PoolConnection<Sqlite>,
    finished: bool,
    health: Arc<WriteHealth>,
}

impl WriteTx {
    /// Commits; only an `Ok` here means the writes are on disk.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT")
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        self.finished = true;
        self.health.succeeded();
        Ok(())
    }

    /// Rolls back a transaction that decided to write nothing; the connection stays usable
    /// only when the ROLLBACK itself succeeded.
    pub(crate) async fn rollback(mut self) -> Result<(), StoreError> {
        sqlx::query("ROLLBACK")
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        self.finished = true;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}
