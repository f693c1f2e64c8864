//! Restoring a backup into an empty data folder (and, for a PostgreSQL backup, an empty
//! database). Every checksum is verified before anything is written; a target that holds
//! anything is refused unchanged; the restored database is read back and its row counts
//! compared with the manifest's, then opened as the server would (applying the migrations of
//! a newer securechat). A failed restore removes what it wrote.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use securechat_server::blobs::Blobs;
use securechat_server::setup::SECRET_FILE;
use securechat_store::backup::Contents;
use securechat_store::Store as _;
use securechat_store_postgres::{redacted_url, PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;

use crate::error::BackupError;
use crate::manifest::{verify, Manifest};
use crate::take::FILES;
use crate::{fsio, pg_tools};

/// Where to restore to.
#[derive(Clone)]
pub struct Target {
    /// The new data folder (missing, or empty): token secret, file blobs, and the SQLite
    /// database unless `database_url` names another place.
    pub data_dir: PathBuf,
    /// `postgres://…` of an empty database for a PostgreSQL backup; `sqlite://PATH` to put a
    /// SQLite backup's database elsewhere than `<data-dir>/securechat.db`.
    pub database_url: Option<String>,
}

/// What was restored.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Where the database went (a path, or the URL without its password).
    pub database: String,
    /// File blobs written into the data folder.
    pub files: u64,
    /// Whether the token secret was restored.
    pub secret: bool,
}

/// Where the restored database goes.
enum Place {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Restores the backup `from` into `target`.
pub async fn restore(from: &Path, target: &Target) -> Result<Restored, BackupError> {
    let dir = from.to_owned();
    let manifest = tokio::task::spawn_blocking(move || verify(&dir))
        .await
        .map_err(|e| BackupError::Mismatch(format!("the verification task failed: {e}")))??;
    tracing::info!(
        backup = %from.display(),
        taken_at = %manifest.taken_at,
        files = manifest.checksums.len(),
        "restore: every checksum of the backup verified"
    );
    let place = place(&manifest, target)?;
    check_migrations(&manifest, &place)?;
    if !fsio::missing_or_empty(&target.data_dir)? {
        return Err(BackupError::TargetNotEmpty(format!(
            "the data folder {} is not empty: restore into a new or empty folder",
            target.data_dir.display()
        )));
    }
    let pg_restore = match &place {
        Place::Sqlite(path) => {
            if path.exists() {
                return Err(BackupError::TargetNotEmpty(format!(
                    "the database file {} exists",
                    path.display()
                )));
            }
            None
        }
        Place::Postgres(url) => {
            let tables = securechat_store_postgres::existing_tables(url)
                .await
                .map_err(BackupError::store(
                    "cannot read the target PostgreSQL database",
                ))?;
            if !tables.is_empty() {
                return Err(BackupError::TargetNotEmpty(format!(
                    "the PostgreSQL database {} is not empty (it has {} tables, e.g. {}): \
                     restore into a new database (createdb)",
                    redacted_url(url),
                    tables.len(),
                    tables[0]
                )));
            }
            Some(pg_tools::find("pg_restore")?)
        }
    };
    let existed = target.data_dir.exists();
    let result = write(from, &manifest, target, &place, pg_restore.as_deref()).await;
    if result.is_err() {
        undo(&target.data_dir, existed, &place);
    }
    let (files, secret) = result?;
    let database = match &place {
        Place::Sqlite(path) => path.display().to_string(),
        Place::Postgres(url) => redacted_url(url),
    };
    Ok(Restored {
        manifest,
        database,
        files,
        secret,
    })
}

/// Where the backup's database goes, refusing a target of the other backend.
fn place(manifest: &Manifest, target: &Target) -> Result<Place, BackupError> {
    let url = target.database_url.as_deref();
    let postgres =
        url.is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    match (manifest.database.backend.as_str(), url) {
        ("sqlite", None) => Ok(Place::Sqlite(target.data_dir.join("securechat.db"))),
        ("sqlite", Some(url)) if !postgres => {
            let path = securechat_store_sqlite::file_of_url(url).ok_or_else(|| {
                BackupError::Mismatch(format!(
                    "unsupported database URL {} (expected sqlite://PATH or postgres://…)",
                    redacted_url(url)
                ))
            })?;
            Ok(Place::Sqlite(PathBuf::from(path)))
        }
        ("sqlite", Some(_)) => Err(BackupError::Mismatch(
            "this is a backup of a SQLite database: restore it into a data folder (without \
             --database-url postgres://…), then move it with `securechat migrate-store`"
                .to_owned(),
        )),
        ("postgres", Some(url)) if postgres => Ok(Place::Postgres(url.to_owned())),
        ("postgres", _) => Err(BackupError::Mismatch(
            "this is a backup of a PostgreSQL database: give --database-url postgres://… naming \
             an empty database (createdb)"
                .to_owned(),
        )),
        (other, _) => Err(BackupError::Mismatch(format!(
            "the backup's database is of an unknown kind {other:?}"
        ))),
    }
}

/// Refuses a backup whose database a newer securechat migrated (this binary could not run on
/// it), before anything is written.
fn check_migrations(manifest: &Manifest, place: &Place) -> Result<(), BackupError> {
    let known = match place {
        Place::Sqlite(_) => securechat_store_sqlite::newest_migration(),
        Place::Postgres(_) => securechat_store_postgres::newest_migration(),
    };
    match manifest.database.latest_migration_version {
        Some(version) if version > known.version => Err(BackupError::Mismatch(format!(
            "the backup's database was migrated by securechat {} up to {}; this securechat ({}) \
             knows migrations up to {known}: restore it with securechat {} or newer",
            manifest.securechat_version,
            manifest.database.latest_migration.as_deref().unwrap_or("?"),
            env!("CARGO_PKG_VERSION"),
            manifest.securechat_version
        ))),
        _ => Ok(()),
    }
}

/// Writes the secret, the blobs and the database; returns the blobs written and whether the
/// secret was.
async fn write(
    from: &Path,
    manifest: &Manifest,
    target: &Target,
    place: &Place,
    pg_restore: Option<&Path>,
) -> Result<(u64, bool), BackupError> {
    let (files, secret) = {
        let from = from.to_owned();
        let manifest = manifest.clone();
        let data_dir = target.data_dir.clone();
        tokio::task::spawn_blocking(move || write_data_dir(&from, &manifest, &data_dir))
            .await
            .map_err(|e| BackupError::Mismatch(format!("the restore task failed: {e}")))??
    };
    let dump = from.join(&manifest.database.file);
    match place {
        Place::Sqlite(path) => {
            let restored = restore_sqlite(&dump, path, manifest).await?;
            compare(manifest, &restored)?;
        }
        Place::Postgres(url) => {
            let program = pg_restore.ok_or(BackupError::ToolMissing { tool: "pg_restore" })?;
            let connection = pg_tools::Connection::parse(url)?;
            let args: [&OsStr; 5] = [
                OsStr::new("--no-owner"),
                OsStr::new("--no-privileges"),
                OsStr::new("--single-transaction"),
                OsStr::new("--exit-on-error"),
                dump.as_os_str(),
            ];
            // One transaction: a failure leaves the database as empty as it was.
            pg_tools::run("pg_restore", program, &args, &connection).await?;
            let checked = match read_postgres(url).await {
                Ok(restored) => compare(manifest, &restored),
                Err(e) => Err(e),
            };
            checked.map_err(|e| {
                BackupError::Mismatch(format!(
                    "{e} (the PostgreSQL database now holds the restored rows: drop it and \
                     create it again before another attempt)"
                ))
            })?;
        }
    }
    Ok((files, secret))
}

/// The token secret and the file blobs, into the (new) data folder.
fn write_data_dir(
    from: &Path,
    manifest: &Manifest,
    data_dir: &Path,
) -> Result<(u64, bool), BackupError> {
    fsio::create_private_dir(data_dir)?;
    let secret = match &manifest.token_secret.file {
        Some(file) => {
            copy_checked(from, file, &data_dir.join(SECRET_FILE), manifest)?;
            true
        }
        None => false,
    };
    let mut files = 0;
    if manifest.files.storage == "local" {
        let prefix = format!("{FILES}/");
        let blobs = data_dir.join(FILES);
        fsio::create_private_dir(&blobs)?;
        for file in manifest.checksums.keys() {
            let Some(name) = file.strip_prefix(&prefix) else {
                continue;
            };
            let id: [u8; 16] = hex::decode(name)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| BackupError::Damaged {
                    file: file.clone(),
                    problem: "is not named by a file id".to_owned(),
                })?;
            copy_checked(from, file, &Blobs::local_path(data_dir, &id), manifest)?;
            files += 1;
        }
        fsio::sync_dir(&blobs)?;
    }
    fsio::sync_dir(data_dir)?;
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsio::sync_dir(parent)?;
    }
    Ok((files, secret))
}

/// Copies the backup's `file` to `to`, checking what was copied against the manifest again.
fn copy_checked(
    from: &Path,
    file: &str,
    to: &Path,
    manifest: &Manifest,
) -> Result<(), BackupError> {
    let digest = fsio::copy_private(&from.join(file), to)?;
    match manifest.checksums.get(file) {
        Some(expected) if expected.sha256 == digest.sha256 => Ok(()),
        _ => Err(BackupError::Damaged {
            file: file.to_owned(),
            problem: "changed while it was being restored".to_owned(),
        }),
    }
}

/// Copies the SQLite database into place, reads its contents, and opens it as the server
/// would.
async fn restore_sqlite(
    dump: &Path,
    path: &Path,
    manifest: &Manifest,
) -> Result<Contents, BackupError> {
    {
        let dump = dump.to_owned();
        let path = path.to_owned();
        let file = manifest.database.file.clone();
        let manifest = manifest.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsio::create_private_dir(parent)?;
            }
            let from = dump.parent().unwrap_or(Path::new("."));
            copy_checked(from, &file, &path, &manifest)?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsio::sync_dir(parent)?;
            }
            Ok::<_, BackupError>(())
        })
        .await
        .map_err(|e| BackupError::Mismatch(format!("the restore task failed: {e}")))??;
    }
    let contents = securechat_store_sqlite::contents_of(path)
        .await
        .map_err(BackupError::store(
            "cannot read the restored SQLite database",
        ))?;
    let store = SqliteStore::open(path).await.map_err(BackupError::store(
        "cannot open the restored SQLite database",
    ))?;
    store.close().await;
    Ok(contents)
}

/// Opens the restored database as the server would (applying newer migrations) and reads
/// its contents.
async fn read_postgres(url: &str) -> Result<Contents, BackupError> {
    let options = PostgresOptions {
        max_connections: 2,
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect(url, options)
        .await
        .map_err(BackupError::store(
            "cannot open the restored PostgreSQL database",
        ))?;
    let contents = match store.snapshot().await {
        Ok(mut snapshot) => {
            let contents = snapshot.contents().await;
            snapshot.end().await;
            contents
        }
        Err(e) => Err(e),
    };
    store.close().await;
    contents.map_err(BackupError::store(
        "cannot read the restored PostgreSQL database",
    ))
}

/// The restored database's row counts against the manifest's.
fn compare(manifest: &Manifest, restored: &Contents) -> Result<(), BackupError> {
    let differences: Vec<String> = manifest
        .counts
        .iter()
        .filter_map(|(table, expected)| {
            let found = restored.counts.get(table).copied().unwrap_or(0);
            (found != *expected)
                .then(|| format!("{table}: {found} rows, the backup had {expected}"))
        })
        .collect();
    if differences.is_empty() {
        Ok(())
    } else {
        Err(BackupError::Verification(differences.join("; ")))
    }
}

/// Removes what a failed restore wrote (the target was missing or empty before).
fn undo(data_dir: &Path, existed: bool, place: &Place) {
    let cleared = if existed {
        std::fs::read_dir(data_dir).map(|entries| {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        })
    } else {
        std::fs::remove_dir_all(data_dir)
    };
    if let Err(e) = cleared {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %data_dir.display(), error = %e, "could not remove what the failed restore wrote");
        }
    }
    if let Place::Sqlite(path) = place {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
}
