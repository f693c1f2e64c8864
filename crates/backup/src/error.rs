//! Why a backup or a restore failed, in words an operator can act on.

use std::path::PathBuf;

use securechat_store::StoreError;

/// A backup or restore failure. Nothing half-written is left to be taken for a good backup,
/// and a refused restore changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database could not be read or written.
    #[error("{what}: {source}")]
    Store {
        what: &'static str,
        source: StoreError,
    },
    /// `pg_dump` or `pg_restore` is not installed where it was looked for.
    #[error(
        "{tool} is needed to back up or restore a PostgreSQL database and was not found (looked \
         in PATH and in /usr/lib/postgresql/*/bin): install the PostgreSQL client tools \
         (Debian: apt install postgresql-client), of the server's major version or newer"
    )]
    ToolMissing { tool: &'static str },
    /// `pg_dump` or `pg_restore` failed.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: &'static str,
        status: String,
        stderr: String,
    },
    /// The folder to write the backup to holds something already.
    #[error("{} exists and is not empty: give --out a new folder", .0.display())]
    OutExists(PathBuf),
    /// The folder is not a complete backup.
    #[error(
        "{} is not a complete securechat backup: {reason} (a backup whose writing did not \
         finish has no manifest, and is never restored)",
        dir.display()
    )]
    NotABackup { dir: PathBuf, reason: String },
    /// A file of the backup does not match its manifest.
    #[error("the backup is damaged: {file} {problem}; nothing was restored (use another backup)")]
    Damaged { file: String, problem: String },
    /// The restore target is not empty.
    #[error("{0}; nothing was restored")]
    TargetNotEmpty(String),
    /// The backup does not fit the target (backend, version).
    #[error("{0}")]
    Mismatch(String),
    /// The restored database does not hold what the manifest says.
    #[error("the restored database does not match the backup's manifest: {0}")]
    Verification(String),
}

impl BackupError {
    /// An I/O failure on `path`, saying what was being done.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }

    /// A store failure, saying what was being done.
    pub fn store(what: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |source| Self::Store { what, source }
    }
}
