//! Taking a backup of a running server.
//!
//! 1. The local file blobs are pinned: hard links in a scratch folder of the data folder, so
//!    that a file whose message is deleted while the backup runs can still be copied.
//! 2. The database snapshot is written into a hidden sibling of the target folder, and what
//!    it holds is read from that same snapshot (the files its rows name, row counts).
//! 3. Those files are copied from the pins, the token secret beside them, each file synced;
//!    the manifest (with every checksum) is written last, the folder synced and renamed into
//!    place, and its parent synced.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use securechat_server::blobs::Blobs;
use securechat_server::setup::SECRET_FILE;
use securechat_store::backup::Contents;

use crate::error::BackupError;
use crate::fsio::{self, Scratch};
use crate::manifest::{Checksum, DatabaseEntry, FilesEntry, Manifest, SecretEntry, MANIFEST};
use crate::{pg_tools, Database, FilesAt, SecretAt, Source};

/// The database dump's name inside a backup, per backend.
pub const SQLITE_DUMP: &str = "database.sqlite3";
pub const POSTGRES_DUMP: &str = "database.pgdump";
/// The token secret's name inside a backup.
pub const SECRET: &str = "token-signing.key";
/// The folder of file blobs inside a backup.
pub const FILES: &str = "files";
/// The list of S3 objects inside a backup of a server whose files are in a bucket.
pub const S3_LIST: &str = "s3-objects.txt";
/// Scratch folders of pinned blobs in the data folder.
const PINS_PREFIX: &str = ".backup-pins-";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Takes a backup of `source` into the folder `out` (missing, or empty), while the server
/// runs; returns its manifest.
pub async fn take(source: &Source, out: &Path) -> Result<Manifest, BackupError> {
    let started = Instant::now();
    if !fsio::missing_or_empty(out)? {
        return Err(BackupError::OutExists(out.to_owned()));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            BackupError::Mismatch(format!("{} does not name a folder", out.display()))
        })?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fsio::create_private_dir(&parent)?;
    let staging =
        Scratch::create(parent.join(format!(".{name}.partial-{}", fsio::unique_suffix())))?;
    let pins = match source.files {
        FilesAt::Local => {
            let data_dir = source.data_dir.clone();
            tokio::task::spawn_blocking(move || pin_all(&data_dir))
                .await
                .map_err(|e| BackupError::Mismatch(format!("the pinning task failed: {e}")))?
        }
        FilesAt::S3 { .. } => None,
    };

    let taken_at_ms = now_ms();
    let (dump, contents) = dump_database(&source.database, staging.path()).await?;
    tracing::info!(
        backend = source.database.backend(),
        messages = contents
            .counts
            .get(securechat_store::backup::LIVE_MESSAGES)
            .copied()
            .unwrap_or(0),
        files = contents.files.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "backup: database snapshot written"
    );

    let secret = match &source.secret {
        SecretAt::Configured(bytes) => Some((bytes.clone(), "configured")),
        SecretAt::DataDir => {
            let path = source.data_dir.join(SECRET_FILE);
            match std::fs::read(&path) {
                Ok(bytes) => Some((zeroize::Zeroizing::new(bytes), "data folder")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(
                        path = %path.display(),
                        "no token signing secret in the data folder: the backup holds none \
                         (after a restore every user logs in again)"
                    );
                    None
                }
                Err(e) => return Err(BackupError::io("cannot read", path)(e)),
            }
        }
    };
    let job = Finish {
        staging,
        pins,
        out: out.to_owned(),
        parent,
        data_dir: source.data_dir.clone(),
        files: source.files.clone(),
        dump,
        backend: source.database.backend(),
        contents,
        secret,
        taken_at_ms,
        started,
    };
    tokio::task::spawn_blocking(move || job.run())
        .await
        .map_err(|e| BackupError::Mismatch(format!("the backup task failed: {e}")))?
}

/// Writes the database snapshot into `dir`; returns the dump's name and what it holds.
async fn dump_database(
    database: &Database,
    dir: &Path,
) -> Result<(&'static str, Contents), BackupError> {
    match database {
        Database::Sqlite(store) => {
            let path = dir.join(SQLITE_DUMP);
            store
                .backup_into(&path)
                .await
                .map_err(BackupError::store("cannot copy the SQLite database"))?;
            fsio::make_private(&path)?;
            let contents = securechat_store_sqlite::contents_of(&path)
                .await
                .map_err(BackupError::store("cannot read the copied SQLite database"))?;
            Ok((SQLITE_DUMP, contents))
        }
        Database::Postgres { store, url } => {
            let program = pg_tools::find("pg_dump")?;
            let connection = pg_tools::Connection::parse(url)?;
            let path = dir.join(POSTGRES_DUMP);
            let mut snapshot = store
                .snapshot()
                .await
                .map_err(BackupError::store("cannot open a snapshot of the database"))?;
            let contents = snapshot
                .contents()
                .await
                .map_err(BackupError::store("cannot read the database snapshot"));
            let dumped = match &contents {
                Ok(_) => {
                    let snapshot_arg = format!("--snapshot={}", snapshot.id());
                    // Uncompressed: the rows are mostly ciphertext in base64, which zlib
                    // shrinks by a third at six times the time (docs/PERFORMANCE.md).
                    let args: [&OsStr; 7] = [
                        OsStr::new("--format=custom"),
                        OsStr::new("--compress=0"),
                        OsStr::new("--no-owner"),
                        OsStr::new("--no-privileges"),
                        OsStr::new(&snapshot_arg),
                        OsStr::new("--file"),
                        path.as_os_str(),
                    ];
                    pg_tools::run("pg_dump", &program, &args, &connection).await
                }
                Err(_) => Ok(()),
            };
            snapshot.end().await;
            let contents = contents?;
            dumped?;
            fsio::make_private(&path)?;
            Ok((POSTGRES_DUMP, contents))
        }
    }
}

/// Hard-links every stored blob into a scratch folder of the data folder; `None` when the
/// folder cannot hold links (then blobs are copied from where they are).
fn pin_all(data_dir: &Path) -> Option<Scratch> {
    fsio::remove_stale(data_dir, PINS_PREFIX);
    let root = data_dir.join("files");
    let entries = std::fs::read_dir(&root).ok()?;
    let pins = Scratch::create(data_dir.join(format!("{PINS_PREFIX}{}", fsio::unique_suffix())))
        .map_err(|e| tracing::warn!(error = %e, "cannot pin the files for the backup; copying them in place"))
        .ok()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        // Uploads in progress are staged as `<hex id>#<n>`; `tmp/` is an older staging.
        if name.to_string_lossy().contains('#') || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match std::fs::hard_link(entry.path(), pins.path().join(&name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot pin the files for the backup; copying them in place");
                return None;
            }
        }
    }
    Some(pins)
}

/// The blocking rest of a backup, after the database snapshot.
struct Finish {
    staging: Scratch,
    pins: Option<Scratch>,
    out: PathBuf,
    parent: PathBuf,
    data_dir: PathBuf,
    files: FilesAt,
    dump: &'static str,
    backend: &'static str,
    contents: Contents,
    secret: Option<(zeroize::Zeroizing<Vec<u8>>, &'static str)>,
    taken_at_ms: i64,
    started: Instant,
}

impl Finish {
    fn run(self) -> Result<Manifest, BackupError> {
        let dir = self.staging.path().to_owned();
        let mut checksums: BTreeMap<String, Checksum> = BTreeMap::new();
        let bytes: u64 = self.contents.files.iter().map(|(_, size)| size).sum();
        let files = match &self.files {
            FilesAt::Local => {
                let missing = self.copy_blobs(&dir, &mut checksums)?;
                FilesEntry {
                    storage: "local".to_owned(),
                    location: None,
                    count: self.contents.files.len() as u64,
                    bytes,
                    list: None,
                    missing,
                }
            }
            FilesAt::S3 { location } => {
                let mut list = String::new();
                for (id, size) in &self.contents.files {
                    list.push_str(&format!("{} {size}\n", hex::encode(id)));
                }
                let digest = fsio::write_private(&dir.join(S3_LIST), list.as_bytes())?;
                checksums.insert(S3_LIST.to_owned(), digest.into());
                FilesEntry {
                    storage: "s3".to_owned(),
                    location: Some(location.clone()),
                    count: self.contents.files.len() as u64,
                    bytes,
                    list: Some(S3_LIST.to_owned()),
                    missing: Vec::new(),
                }
            }
        };
        let token_secret = match &self.secret {
            Some((bytes, source)) => {
                let digest = fsio::write_private(&dir.join(SECRET), bytes)?;
                checksums.insert(SECRET.to_owned(), digest.into());
                SecretEntry {
                    file: Some(SECRET.to_owned()),
                    source: (*source).to_owned(),
                }
            }
            None => SecretEntry {
                file: None,
                source: "none".to_owned(),
            },
        };
        let digest = fsio::sync_and_hash(&dir.join(self.dump))?;
        checksums.insert(self.dump.to_owned(), digest.into());
        let schema = &self.contents.schema;
        let manifest = Manifest {
            format: crate::manifest::FORMAT.to_owned(),
            format_version: crate::manifest::FORMAT_VERSION,
            securechat_version: env!("CARGO_PKG_VERSION").to_owned(),
            taken_at_ms: self.taken_at_ms,
            taken_at: chrono::DateTime::from_timestamp_millis(self.taken_at_ms)
                .map_or_else(String::new, |t| {
                    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                }),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            database: DatabaseEntry {
                backend: self.backend.to_owned(),
                file: self.dump.to_owned(),
                migrations: schema.applied,
                latest_migration: schema.latest.as_ref().map(ToString::to_string),
                latest_migration_version: schema.latest.as_ref().map(|m| m.version),
            },
            counts: self.contents.counts.clone(),
            files,
            token_secret,
            checksums,
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| BackupError::Mismatch(format!("cannot write the manifest: {e}")))?;
        fsio::write_private(&dir.join(MANIFEST), &text)?;
        if matches!(self.files, FilesAt::Local) {
            fsio::sync_dir(&dir.join(FILES))?;
        }
        fsio::sync_dir(&dir)?;
        std::fs::rename(&dir, &self.out).map_err(BackupError::io(
            "cannot move the finished backup to",
            &self.out,
        ))?;
        self.staging.keep();
        fsio::sync_dir(&self.parent)?;
        drop(self.pins);
        Ok(manifest)
    }

    /// Copies the blobs the snapshot names into `dir/files`; returns the ids of those gone.
    fn copy_blobs(
        &self,
        dir: &Path,
        checksums: &mut BTreeMap<String, Checksum>,
    ) -> Result<Vec<String>, BackupError> {
        let target = dir.join(FILES);
        fsio::create_private_dir(&target)?;
        let mut missing = Vec::new();
        for (id, _) in &self.contents.files {
            let name = hex::encode(id);
            let live = Blobs::local_path(&self.data_dir, id);
            let from = match &self.pins {
                Some(pins) => {
                    let pinned = pins.path().join(&name);
                    // A file uploaded after the pinning: pinned now, as early as can be.
                    if pinned.exists() || std::fs::hard_link(&live, &pinned).is_ok() {
                        pinned
                    } else {
                        live
                    }
                }
                None => live,
            };
            match fsio::copy_private(&from, &target.join(&name)) {
                Ok(digest) => {
                    checksums.insert(format!("{FILES}/{name}"), digest.into());
                }
                Err(BackupError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    tracing::warn!(
                        file = %name,
                        "a file named by the database snapshot was deleted before it was copied \
                         (its message was deleted while the backup ran); the backup lacks it"
                    );
                    missing.push(name);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(missing)
    }
}
