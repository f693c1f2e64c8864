//! Backups of a securechat server, taken while it runs, and their restore.
//!
//! A backup is a folder: the database as of one moment (SQLite: `VACUUM INTO`; PostgreSQL:
//! `pg_dump` of an exported snapshot), the file blobs the database's rows named at that
//! moment (`files/<hex id>`, unless the files live in an S3 bucket: then only their list),
//! the token signing secret, and `manifest.json` with what, when, which securechat, which
//! migrations, row counts, and the SHA-256 of every file. It is built in a hidden sibling
//! folder, synced, and renamed into place: a folder without a manifest is never a backup.
//! A restore checks every checksum before it writes anything, and goes into an empty data
//! folder (and an empty PostgreSQL database) only.
//!
//! `securechat backup` / `securechat restore` call [`take`] and [`restore()`]; the server runs
//! [`schedule`] (`--backup-dir`), on the node holding the jobs lock in a cluster.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod error;
mod fsio;
pub mod manifest;
mod pg_tools;
pub mod restore;
pub mod schedule;
mod take;

use std::path::PathBuf;
use std::sync::Arc;

use zeroize::Zeroizing;

use securechat_store::{Schema, Store};
use securechat_store_postgres::PostgresStore;
use securechat_store_sqlite::SqliteStore;

pub use error::BackupError;
pub use manifest::{verify, Manifest};
pub use restore::{restore, Restored, Target};
pub use schedule::{Schedule, TimeOfDay};
pub use take::take;

/// The server's database, as its backend (a backup is taken each backend's own way).
#[derive(Clone)]
pub enum Database {
    Sqlite(Box<SqliteStore>),
    /// The store and its URL (for `pg_dump`; it may hold a password, so no `Debug`).
    Postgres {
        store: PostgresStore,
        url: String,
    },
}

impl Database {
    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// The store, shared (clones share the connections).
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(store) => Arc::new(SqliteStore::clone(store)),
            Self::Postgres { store, .. } => Arc::new(store.clone()),
        }
    }

    /// The migrations the database held when it was opened.
    pub fn schema(&self) -> &Schema {
        match self {
            Self::Sqlite(store) => store.schema(),
            Self::Postgres { store, .. } => store.schema(),
        }
    }

    /// Closes its connections.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres { store, .. } => store.close().await,
        }
    }
}

/// Where the file blobs are.
#[derive(Debug, Clone)]
pub enum FilesAt {
    /// `<data-dir>/files`: copied into the backup.
    Local,
    /// An S3-compatible bucket (described without credentials): its versioning or replication
    /// keeps the bytes; the backup lists the objects the database names.
    S3 { location: String },
}

/// Where the token signing secret comes from.
#[derive(Clone)]
pub enum SecretAt {
    /// `<data-dir>/token-signing.key`.
    DataDir,
    /// `--token-secret` / `SECURECHAT_TOKEN_SECRET`.
    Configured(Zeroizing<Vec<u8>>),
}

/// What a backup is taken of: the server's own database, data folder, files and secret.
#[derive(Clone)]
pub struct Source {
    pub database: Database,
    pub data_dir: PathBuf,
    pub files: FilesAt,
    pub secret: SecretAt,
}
