//! `PostgresStore`: securechat's store on PostgreSQL, for several server processes sharing one
//! database.
//!
//! Every connection runs with `synchronous_commit = on` (a commit is durable before the server
//! acknowledges anything) and a `statement_timeout`. Transactions are read committed; the
//! guarantees of the store contract come from row locks taken in a fixed order:
//!
//! - **Streams.** Each user's counter row in `streams` is locked by every transaction that
//!   gives out seqs in that user's stream (appends, deletions, expiry, read receipts), all of
//!   a transaction's rows in one statement ordered by user id, before it touches message
//!   rows. Appends to one user are therefore serialised across processes, seqs are gap-free
//!   and commit in seq order, and two transactions never wait for each other in a cycle.
//! - **Accounts.** Key publishing, password changes and disabling lock the user's row.
//! - **Logins** checked against the IP rule take two transaction-scoped advisory locks, the
//!   user's then the address's (see `admission`).
//! - **Refresh tokens** are locked (`FOR UPDATE`) before they are judged.

mod accounts;
mod admin;
mod admission;
mod append;
mod attach;
mod backup;
mod cluster;
mod errors;
mod events;
mod files;
mod group_messages;
mod groups;
mod messages;
mod migrations;
mod rows;
mod security;
mod sessions;
mod streams;
mod tx;
mod url;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use securechat_store::health::WriteHealth;
use securechat_store::{Schema, Store, StoreError};

pub use backup::{existing_tables, Snapshot};
pub(crate) use errors::map_err;
pub use migrations::newest_known as newest_migration;
use tx::WriteTx;
pub use url::redacted_url;

/// How `PostgresStore` uses the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections this process opens.
    pub max_connections: u32,
    /// Longest a statement may run before the server cancels it (`Unavailable`).
    pub statement_timeout: Duration,
    /// Longest a call waits for a free connection (`Unavailable`).
    pub acquire_timeout: Duration,
}

impl Default for PostgresOptions {
    /// 16 connections, 10 s per statement, 5 s to get a connection.
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL store. Clones share one connection pool.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    health: Arc<WriteHealth>,
    /// The connection that asks for (and, while this process leads, holds) the
    /// background-work lock.
    leader: Arc<tokio::sync::Mutex<cluster::LockConnection>>,
    /// The migrations applied when it was opened.
    schema: Schema,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// applies pending migrations (under PostgreSQL's advisory lock, so processes starting
    /// together take turns). A database that cannot be reached or written (a read-only
    /// replica, missing rights, a full disk) is refused here, with the reason in plain words,
    /// rather than at the first message.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Other(format!("the PostgreSQL URL is not usable: {e}").into())
        })?;
        let place = describe(&connect);
        let timeout_ms = options.statement_timeout.as_millis().max(1);
        let connect = connect.options([
            ("synchronous_commit", "on".to_owned()),
            ("statement_timeout", timeout_ms.to_string()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| {
                refused(
                    map_err(e),
                    &format!(
                        "cannot connect to the PostgreSQL database {place}; check that the \
                         server runs there, that it accepts this user and that the database \
                         exists"
                    ),
                )
            })?;
        let mut store = Self {
            pool,
            health: Arc::default(),
            leader: Arc::default(),
            schema: Schema::default(),
        };
        let unwritable = format!(
            "the PostgreSQL database {place} cannot be written; securechat needs to write it: \
             check that it is not a read-only replica, that the user may create and write \
             tables in it, and that the server's disk has free space"
        );
        match migrations::MIGRATOR.run(&store.pool).await {
            Ok(()) => {}
            Err(sqlx::migrate::MigrateError::Execute(e)) => {
                store.close().await;
                return Err(refused(map_err(e), &unwritable));
            }
            Err(e) => {
                let refusal = match migrations::refusal(&store.pool, e).await {
                    StoreError::Other(e) => StoreError::Other(
                        format!(
                            "the migrations of the PostgreSQL database {place} do not match \
                             this version of securechat: {e}"
                        )
                        .into(),
                    ),
                    newer => newer,
                };
                store.close().await;
                return Err(refusal);
            }
        }
        match migrations::applied(&store.pool).await {
            Ok(schema) => store.schema = schema,
            Err(e) => {
                store.close().await;
                return Err(map_err(e));
            }
        }
        if let Err(e) = store.probe_write().await {
            store.close().await;
            return Err(refused(e, &unwritable));
        }
        Ok(store)
    }

    /// The migrations applied to the database when it was opened.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Starts a write transaction.
    pub(crate) async fn begin(&self) -> Result<WriteTx, StoreError> {
        WriteTx::begin(&self.pool, &self.health).await
    }

    /// Passes a write's result through, noting a storage failure.
    pub(crate) fn tracked<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.health.tracked(result)
    }

    /// A small committed write: tells whether writes work.
    async fn probe_write(&self) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO write_probe (id, at) \
                 VALUES (1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) \
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            )
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await
        }
        .await;
        self.tracked(result)
    }
}

/// Where a database is, for messages: host, port, database and user (never the password).
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{} (user {})",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username()),
        options.get_username()
    )
}

/// A start-up refusal in plain words, keeping the kind (`Unavailable`: may work later) and
/// the cause.
fn refused(cause: StoreError, words: &str) -> StoreError {
    match cause {
        StoreError::Unavailable(e) => StoreError::Unavailable(format!("{words} ({e})").into()),
        StoreError::Other(e) => StoreError::Other(format!("{words} ({e})").into()),
        other => StoreError::Other(format!("{words} ({other})").into()),
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        // While writes fail, readiness depends on a write getting through again; an
        // unauthenticated `/readyz` may ask often, so the probe runs at most once a second.
        if let Some(failure) = self.health.failure() {
            if !self.health.probe_due() {
                return Err(StoreError::Unavailable(failure.into()));
            }
            self.probe_write().await?;
        }
        Ok(())
    }

    fn write_failure(&self) -> Option<String> {
        self.health.failure()
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
