//! Backups of a running database: a read-only repeatable-read transaction exports its
//! snapshot, `pg_dump --snapshot` dumps exactly that snapshot while the transaction stays
//! open, and the same transaction reads what the dump holds (row counts, the files its rows
//! name). Restores go into an empty database only: [`existing_tables`] tells.

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection, Postgres, Row as _, Transaction};

use securechat_store::backup::{Contents, COUNTED_TABLES, LIVE_MESSAGES};
use securechat_store::model::FileId;
use securechat_store::{Migration, Schema, StoreError};

use crate::{map_err, PostgresStore};

/// An open snapshot of the database, exported for `pg_dump --snapshot`; it stays importable
/// until [`Snapshot::end`] (or until it is dropped).
pub struct Snapshot {
    tx: Transaction<'static, Postgres>,
    id: String,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("id", &self.id).finish()
    }
}

impl PostgresStore {
    /// Opens a read-only repeatable-read transaction and exports its snapshot. It holds one
    /// connection of the pool, and no statement timeout applies in it (a large database's
    /// counts take a while).
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        Ok(Snapshot { tx, id })
    }
}

impl Snapshot {
    /// The exported snapshot's name, for `pg_dump --snapshot`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the snapshot holds.
    pub async fn contents(&mut self) -> Result<Contents, StoreError> {
        let tx = &mut *self.tx;
        let mut contents = Contents::default();
        for table in COUNTED_TABLES {
            let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            contents
                .counts
                .insert(table.to_owned(), u64::try_from(rows).unwrap_or(0));
        }
        let live: i64 =
            sqlx::query_scalar("SELECT count(*) FROM messages WHERE envelope IS NOT NULL")
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
        contents
            .counts
            .insert(LIVE_MESSAGES.to_owned(), u64::try_from(live).unwrap_or(0));
        let files = sqlx::query("SELECT id, size FROM files ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        for row in files {
            let id: Vec<u8> = row.try_get("id").map_err(map_err)?;
            let size: i64 = row.try_get("size").map_err(map_err)?;
            let id = FileId::try_from(id.as_slice())
                .map_err(|_| StoreError::Other("a file id is not 16 bytes".into()))?;
            contents.files.push((id, u64::try_from(size).unwrap_or(0)));
        }
        let migrations: Vec<(i64, String)> = sqlx::query_as(
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        contents.schema = Schema {
            applied: migrations.len(),
            latest: migrations.last().map(|(v, d)| Migration::new(*v, d)),
        };
        Ok(contents)
    }

    /// Ends the transaction (nothing was written in it).
    pub async fn end(self) {
        self.tx.rollback().await.ok();
    }
}

/// The tables (`schema.table`) of the database at `url`, outside PostgreSQL's own schemas:
/// empty for a database fit to restore into. Nothing is changed (no migrations run).
pub async fn existing_tables(url: &str) -> Result<Vec<String>, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("the PostgreSQL URL is not usable: {e}").into()))?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(map_err)?;
    let tables = sqlx::query_scalar(
        "SELECT schemaname || '.' || tablename FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(map_err);
    conn.close().await.ok();
    tables
}
