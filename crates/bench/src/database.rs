//! Databases by URL: `sqlite://PATH` or `postgres://…` (loopback only, like every target of
//! the load tool), and throw-away PostgreSQL databases for benchmarks and tests.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use sqlx::postgres::PgConnectOptions;
use sqlx::Connection as _;

use securechat_store::Store;
use securechat_store_postgres::{redacted_url, PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;

/// Env variable with the URL of a PostgreSQL database through which throw-away databases are
/// created and dropped (the same one the store tests use).
pub const POSTGRES_URL_ENV: &str = "SECURECHAT_TEST_POSTGRES_URL";
/// The admin URL when `SECURECHAT_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long to wait for PostgreSQL before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `SECURECHAT_TEST_POSTGRES_URL`, or `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn admin_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (its URL).
    Postgres(String),
}

impl Location {
    /// Reads `sqlite://PATH` (or `sqlite:PATH`) and `postgres://…` (or `postgresql://…`); a
    /// PostgreSQL server must be on this machine (loopback address, `localhost` or a socket).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = securechat_store_sqlite::file_of_url(url) {
            if path.is_empty() {
                bail!("sqlite:// needs a file path: sqlite:///tmp/history.db");
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).with_context(|| {
                format!("the PostgreSQL URL {} is not usable", redacted_url(url))
            })?;
            let host = options.get_host();
            let local = host == "localhost"
                || host.starts_with('/')
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !local {
                bail!("the load tool targets this machine only: PostgreSQL host {host} is not a loopback address");
            }
            return Ok(Self::Postgres(url.to_owned()));
        }
        bail!(
            "unknown database URL {}: use sqlite://PATH or postgres://…",
            redacted_url(url)
        )
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Where it is, for reports (never a password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("SQLite file {}", path.display()),
            Self::Postgres(url) => format!("PostgreSQL {}", redacted_url(url)),
        }
    }

    /// Opens the store there (creating the file, applying migrations), with the backend's
    /// default options.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match self {
            Self::Sqlite(path) => Arc::new(
                SqliteStore::open(path)
                    .await
                    .with_context(|| format!("opening {}", self.describe()))?,
            ),
            Self::Postgres(url) => Arc::new(
                PostgresStore::connect(url, PostgresOptions::default())
                    .await
                    .with_context(|| format!("opening {}", self.describe()))?,
            ),
        })
    }
}

/// `url` naming the database `name` instead of its own (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
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

async fn connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e).with_context(|| format!("PostgreSQL at {}", redacted_url(url))),
        Err(_) => bail!(
            "PostgreSQL at {} did not answer within {CONNECT_TIMEOUT:?}",
            redacted_url(url)
        ),
    }
}

/// A fresh PostgreSQL database `<prefix>_<random hex>`, created through an admin URL and
/// dropped (`DROP DATABASE … WITH (FORCE)`, which also ends its stores' connections) when
/// this is dropped.
pub struct Scratch {
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    /// Creates it on the server of `admin` (a URL whose user may create databases). `Err`
    /// when that server is unreachable or refuses.
    pub async fn create(admin: &str, prefix: &str) -> anyhow::Result<Self> {
        Location::parse(admin)?;
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let mut conn = connect(admin).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating the database {name}"))?;
        let _ = conn.close().await;
        Ok(Self {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL (the admin URL naming this database).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Drop may run inside an async runtime, which must not be blocked on from within: the
        // database is dropped from a short-lived thread with its own runtime.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the database {}: {e:#}", self.name),
            Err(_) => eprintln!(
                "could not drop the database {}: its thread panicked",
                self.name
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "sc_bench_1"),
            "postgres://postgres@127.0.0.1:5432/sc_bench_1"
        );
        assert_eq!(
            with_database("postgres://u:p@localhost:5433/admin?sslmode=disable", "x"),
            "postgres://u:p@localhost:5433/x?sslmode=disable"
        );
    }

    #[test]
    fn locations_are_read_and_remote_servers_refused() {
        assert_eq!(
            Location::parse("sqlite:///tmp/h.db").ok(),
            Some(Location::Sqlite(PathBuf::from("/tmp/h.db")))
        );
        assert_eq!(
            Location::parse("sqlite:h.db").ok(),
            Some(Location::Sqlite(PathBuf::from("h.db")))
        );
        assert!(Location::parse("postgres://postgres@127.0.0.1:5432/x").is_ok());
        assert!(Location::parse("postgresql://postgres@localhost/x").is_ok());
        assert!(Location::parse("postgres://postgres@192.168.1.9:5432/x").is_err());
        assert!(Location::parse("postgres://postgres@db.example.org/x").is_err());
        assert!(Location::parse("mysql://localhost/x").is_err());
        assert!(Location::parse("sqlite://").is_err());
    }
}
