//! The PostgreSQL target: checked empty before anything is changed, migrated by
//! `PostgresStore::connect`, then filled inside one transaction that holds its tables locked.

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection};

use securechat_store::Store as _;
use securechat_store_postgres::{PostgresOptions, PostgresStore};

use crate::error::target_failed;
use crate::tables::DATA_TABLES;
use crate::{redacted_url, MigrateError};

/// The identity columns whose sequences must continue after the copied values.
const IDENTITIES: [(&str, &str); 3] = [
    ("messages", "id"),
    ("encryption_keys", "position"),
    ("security_events", "id"),
];

/// A connected target, not yet changed.
pub(crate) struct Target {
    url: String,
    conn: PgConnection,
}

/// The target inside the copy's transaction (begun on `conn` with `BEGIN`: a connection
/// that closes without `COMMIT` is rolled back by the server).
pub(crate) struct Filling {
    conn: PgConnection,
}

/// Runs a statement that takes no arguments.
async fn run(conn: &mut PgConnection, sql: &str, step: &'static str) -> Result<(), MigrateError> {
    sqlx::raw_sql(sql)
        .execute(conn)
        .await
        .map_err(target_failed(step))?;
    Ok(())
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
        let mut conn = PgConnection::connect_with(&options.options([("synchronous_commit", "on")]))
            .await
            .map_err(|source| MigrateError::ConnectTarget {
                url: redacted_url(url),
                source,
            })?;
        if let Err(e) = refuse_data(&mut conn).await {
            // Closing politely is all that is left to do; the refusal is what matters.
            let _ = conn.close().await;
            return Err(e);
        }
        Ok(Self {
            url: url.to_owned(),
            conn,
        })
    }

    /// Applies the schema (the same migrations the server runs), then starts the copy's
    /// transaction: the data tables are locked against every other writer and checked
    /// empty again (another process may have written since `connect`).
    pub(crate) async fn begin(self) -> Result<Filling, MigrateError> {
        let Self { url, mut conn } = self;
        let begun = async {
            let store = PostgresStore::connect(&url, PostgresOptions::default())
                .await
                .map_err(MigrateError::OpenTarget)?;
            store.close().await;
            run(&mut conn, "BEGIN", "begin").await?;
            let lock = format!("LOCK TABLE {} IN EXCLUSIVE MODE", DATA_TABLES.join(", "));
            run(
                &mut conn,
                "SET LOCAL lock_timeout = '30s'",
                "locking the tables",
            )
            .await?;
            run(&mut conn, &lock, "locking the tables").await?;
            refuse_data(&mut conn).await
        }
        .await;
        match begun {
            Ok(()) => Ok(Filling { conn }),
            Err(e) => {
                let _ = conn.close().await;
                Err(e)
            }
        }
    }
}

impl Filling {
    /// The transaction's connection.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Moves the identity sequences past the copied ids, so the next message or key the
    /// server stores gets a new one.
    pub(crate) async fn continue_identities(&mut self) -> Result<(), MigrateError> {
        for (table, column) in IDENTITIES {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), max({column})) \
                 FROM {table} HAVING max({column}) IS NOT NULL"
            );
            run(&mut self.conn, &sql, "moving the identity sequences").await?;
        }
        Ok(())
    }

    /// Commits the copy: only now does any of it become visible.
    pub(crate) async fn commit(mut self) -> Result<(), MigrateError> {
        sqlx::raw_sql("COMMIT")
            .execute(&mut self.conn)
            .await
            .map_err(MigrateError::CommitUnknown)?;
        // The copy is committed; a failure to say goodbye changes nothing.
        let _ = self.conn.close().await;
        Ok(())
    }

    /// Rolls the copy back: the target keeps its (empty) schema and nothing else.
    pub(crate) async fn abandon(mut self) {
        // A rollback that fails (the connection is gone) is done by the server anyway when
        // the connection closes.
        let _ = run(&mut self.conn, "ROLLBACK", "rollback").await;
        let _ = self.conn.close().await;
    }
}
