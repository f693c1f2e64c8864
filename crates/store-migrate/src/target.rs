//! The PostgreSQL target: checked empty before anything is changed, migrated by
//! `PostgresStore::connect`, then filled inside one transaction that holds its tables locked.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use securechat_store::Store as _;
use securechat_store_postgres::{PostgresOptions, PostgresStore};

use crate::error::target_failed;
use crate::tables::DATA_TABLES;
use crate::MigrateError;

/// The identity columns whose sequences must continue after the copied values.
const IDENTITIES: [(&str, &str); 2] = [("messages", "id"), ("encryption_keys", "position")];

/// A connected target, not yet changed.
pub(crate) struct Target {
    url: String,
    pool: PgPool,
}

/// The target inside the copy's transaction.
pub(crate) struct Filling {
    pool: PgPool,
    tx: Transaction<'static, Postgres>,
}

/// Refuses a database in which any data table (that exists yet) holds a row.
async fn refuse_data(conn: &mut PgConnection) -> Result<(), MigrateError> {
    for table in DATA_TABLES {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&mut *conn)
            .await
            .map_err(target_failed("the emptiness check"))?;
        if !exists {
            continue;
        }
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(target_failed("the emptiness check"))?;
        if rows > 0 {
            return Err(MigrateError::TargetNotEmpty { table, rows });
        }
    }
    Ok(())
}

impl Target {
    /// Connects to the database at `url` and refuses it if it holds data, before changing
    /// anything in it.
    pub(crate) async fn connect(url: &str) -> Result<Self, MigrateError> {
        let options = PgConnectOptions::from_str(url).map_err(MigrateError::TargetUrl)?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.options([("synchronous_commit", "on")]))
            .await
            .map_err(target_failed("connecting"))?;
        let checked = match pool.acquire().await {
            Ok(mut conn) => refuse_data(&mut conn).await,
            Err(e) => Err(target_failed("connecting")(e)),
        };
        if let Err(e) = checked {
            pool.close().await;
            return Err(e);
        }
        Ok(Self {
            url: url.to_owned(),
            pool,
        })
    }

    /// Applies the schema (the same migrations the server runs), then starts the copy's
    /// transaction: the data tables are locked against every other writer and checked
    /// empty again (another process may have written since `connect`).
    pub(crate) async fn begin(self) -> Result<Filling, MigrateError> {
        let begun = async {
            let store = PostgresStore::connect(&self.url, PostgresOptions::default())
                .await
                .map_err(MigrateError::OpenTarget)?;
            store.close().await;
            let mut tx = self.pool.begin().await.map_err(target_failed("begin"))?;
            sqlx::query("SET LOCAL lock_timeout = '30s'")
                .execute(&mut *tx)
                .await
                .map_err(target_failed("locking the tables"))?;
            sqlx::query(&format!(
                "LOCK TABLE {} IN EXCLUSIVE MODE",
                DATA_TABLES.join(", ")
            ))
            .execute(&mut *tx)
            .await
            .map_err(target_failed("locking the tables"))?;
            refuse_data(&mut tx).await?;
            Ok(tx)
        }
        .await;
        match begun {
            Ok(tx) => Ok(Filling {
                pool: self.pool,
                tx,
            }),
            Err(e) => {
                self.pool.close().await;
                Err(e)
            }
        }
    }
}

impl Filling {
    /// The transaction's connection.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Moves the identity sequences past the copied ids, so the next message or key the
    /// server stores gets a new one.
    pub(crate) async fn continue_identities(&mut self) -> Result<(), MigrateError> {
        for (table, column) in IDENTITIES {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), max({column})) \
                 FROM {table} HAVING max({column}) IS NOT NULL"
            ))
            .execute(&mut *self.tx)
            .await
            .map_err(target_failed("moving the identity sequences"))?;
        }
        Ok(())
    }

    /// Commits the copy: only now does any of it become visible.
    pub(crate) async fn commit(self) -> Result<(), MigrateError> {
        let committed = self.tx.commit().await.map_err(target_failed("commit"));
        self.pool.close().await;
        committed
    }

    /// Rolls the copy back: the target keeps its (empty) schema and nothing else.
    pub(crate) async fn abandon(self) {
        // A rollback that fails (the connection is gone) is done by the server anyway when
        // the connection closes.
        let _ = self.tx.rollback().await;
        self.pool.close().await;
    }
}
