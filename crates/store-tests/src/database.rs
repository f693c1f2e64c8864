//! Throw-away databases for tests, on either backend, and the choice of backend.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use securechat_store::Store;
use securechat_store_postgres::redacted_url;
use securechat_store_postgres::{PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;
use sqlx::Connection as _;

/// Env variable naming the backend that tests of other crates run on.
pub const BACKEND_ENV: &str = "SECURECHAT_TEST_BACKEND";
/// Env variable with the URL of a PostgreSQL database from which test databases are made.
pub const POSTGRES_URL_ENV: &str = "SECURECHAT_TEST_POSTGRES_URL";
/// The admin URL when `SECURECHAT_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long tests wait for PostgreSQL to answer before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a test database could not be made.
#[derive(Debug)]
pub struct TestDatabaseError(String);

impl std::fmt::Display for TestDatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestDatabaseError {}

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `SqliteStore` on a file in a temporary folder.
    Sqlite,
    /// `PostgresStore` on a fresh database of the server at `postgres_admin_url()`.
    Postgres,
}

/// The backend chosen by `SECURECHAT_TEST_BACKEND` (`sqlite`, the default, or `postgres`).
///
/// # Panics
/// On any other value, so a typo does not silently test the default.
pub fn backend_under_test() -> Backend {
    match std::env::var(BACKEND_ENV) {
        Err(_) => Backend::Sqlite,
        Ok(name) => match name.trim().to_ascii_lowercase().as_str() {
            "" | "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            other => panic!("{BACKEND_ENV}={other}: expected `sqlite` or `postgres`"),
        },
    }
}

/// The URL of the PostgreSQL database through which test databases are created and dropped:
/// `SECURECHAT_TEST_POSTGRES_URL`, by default `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether PostgreSQL answers at `postgres_admin_url()` (asked once per test binary).
pub async fn postgres_reachable() -> bool {
    static REACHABLE: OnceLock<bool> = OnceLock::new();
    if let Some(&reachable) = REACHABLE.get() {
        return reachable;
    }
    let reachable = admin_connection().await.is_ok();
    *REACHABLE.get_or_init(|| reachable)
}

/// Whether the PostgreSQL tests can run. When PostgreSQL is unreachable, prints one line
/// (once per test binary) and answers false, so the caller returns (skips); under CI (env
/// `CI` set) an unreachable PostgreSQL fails the test instead.
///
/// # Panics
/// When PostgreSQL is unreachable and `CI` is set.
pub async fn postgres_or_skip() -> bool {
    static TOLD: AtomicBool = AtomicBool::new(false);
    if postgres_reachable().await {
        return true;
    }
    let url = redacted_url(&postgres_admin_url());
    if std::env::var_os("CI").is_some() {
        panic!("PostgreSQL not reachable at {url}, and CI is set: the PostgreSQL tests must run");
    }
    if !TOLD.swap(true, Ordering::Relaxed) {
        // Straight to the stream: the test harness captures `println!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "PostgreSQL not reachable at {url}: skipped"
        );
    }
    false
}

/// A connection to the admin database.
async fn admin_connection() -> Result<sqlx::PgConnection, String> {
    let url = postgres_admin_url();
    match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// `url` naming the database `name` instead of its own (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[start..].find('/').map_or(base.len(), |i| start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Where a test database lives.
enum Place {
    Sqlite {
        /// Removed with the database file when dropped.
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        name: String,
        url: String,
    },
}

/// A fresh, empty database for one test, removed when dropped: a file in a temporary folder
/// (SQLite) or a database `sc_test_<random hex>` on the PostgreSQL server (dropped with
/// `DROP DATABASE … WITH (FORCE)`, which also ends the connections of its stores).
pub struct TestDatabase {
    backend: Backend,
    place: Place,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("backend", &self.backend)
            .field("url", &redacted_url(&self.url()))
            .finish()
    }
}

impl TestDatabase {
    /// Makes a fresh database on `backend`: fails when there is no temporary folder, or
    /// when PostgreSQL is unreachable or refuses to create it.
    pub async fn new(backend: Backend) -> Result<Self, TestDatabaseError> {
        let place = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().map_err(|e| {
                    TestDatabaseError(format!("a temporary folder for the test database: {e}"))
                })?;
                let path = dir.path().join("securechat.db");
                Place::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => {
                let name = format!("sc_test_{:032x}", rand::random::<u128>());
                let mut admin = admin_connection().await.map_err(|e| {
                    TestDatabaseError(format!(
                        "PostgreSQL not reachable at {}: {e}",
                        redacted_url(&postgres_admin_url())
                    ))
                })?;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| {
                        TestDatabaseError(format!("creating the test database {name}: {e}"))
                    })?;
                let _ = admin.close().await;
                let url = with_database(&postgres_admin_url(), &name);
                Place::Postgres { name, url }
            }
        };
        Ok(Self { backend, place })
    }

    /// The backend it is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Its URL: `sqlite://PATH` or `postgres://…/sc_test_…`.
    pub fn url(&self) -> String {
        match &self.place {
            Place::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Place::Postgres { url, .. } => url.clone(),
        }
    }

    /// Opens a new store on it: each call is a separate instance (its own connections), as a
    /// separate server process would have, so two calls simulate two nodes.
    ///
    /// # Panics
    /// When the store cannot be opened.
    pub async fn open(&self) -> Arc<dyn Store> {
        match &self.place {
            Place::Sqlite { path, .. } => Arc::new(
                SqliteStore::open(path)
                    .await
                    .unwrap_or_else(|e| panic!("opening {}: {e}", path.display())),
            ),
            Place::Postgres { url, name } => {
                let options = PostgresOptions {
                    max_connections: 8,
                    ..PostgresOptions::default()
                };
                Arc::new(
                    PostgresStore::connect(url, options)
                        .await
                        .unwrap_or_else(|e| panic!("connecting to the test database {name}: {e}")),
                )
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Place::Postgres { name, .. } = &self.place else {
            return;
        };
        // Drop may run inside an async runtime, which must not be blocked on from within:
        // the database is dropped from a short-lived thread with its own runtime.
        let name = name.clone();
        let target = name.clone();
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = admin_connection().await?;
                sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS \"{target}\" WITH (FORCE)"
                ))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the test database {name}: {e}"),
            Err(_) => {
                eprintln!("could not drop the test database {name}: the dropping thread panicked")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_database_urls_keep_the_server_and_the_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "sc_test_1"),
            "postgres://postgres@127.0.0.1:5432/sc_test_1"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5433/admin?sslmode=disable", "x"),
            "postgres://u:p@db:5433/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "x"), "postgres://db/x");
    }
}
