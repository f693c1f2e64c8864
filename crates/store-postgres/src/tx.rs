//! Write transactions: plain `BEGIN` … `COMMIT` on a pooled connection, noting in the store's
//! `WriteHealth` whether writes work.
//!
//! A transaction that is dropped without a successful `commit` or `rollback` (an error
//! returned early, a cancelled request) closes its connection instead of handing it back to
//! the pool: the server rolls the transaction back, and no later write can end up inside it.
//! Only a `COMMIT` that returned success counts as stored; with `synchronous_commit = on` it
//! is durable then.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

use securechat_store::health::WriteHealth;
use securechat_store::StoreError;

use crate::map_err;

/// An open write transaction (read committed: each statement sees what other transactions
/// committed before it started, which is what the row locks of the writes rely on).
#[derive(Debug)]
pub(crate) struct WriteTx {
    conn: PoolConnection<Postgres>,
    finished: bool,
    health: Arc<WriteHealth>,
}

impl WriteTx {
    /// Starts a transaction on a connection of `pool`.
    pub(crate) async fn begin(
        pool: &PgPool,
        health: &Arc<WriteHealth>,
    ) -> Result<Self, StoreError> {
        let mut conn = pool.acquire().await.map_err(map_err)?;
        if let Err(e) = sqlx::query("BEGIN ISOLATION LEVEL READ COMMITTED")
            .execute(&mut *conn)
            .await
        {
            conn.close_on_drop();
            return Err(map_err(e));
        }
        Ok(Self {
            conn,
            finished: false,
            health: health.clone(),
        })
    }

    /// Commits; only an `Ok` here means the writes are stored.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT")
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        self.finished = true;
        self.health.succeeded();
        Ok(())
    }

    /// Rolls back a transaction that decided to write nothing.
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
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
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
