//! `manifest.json`: what a backup holds, when and by which securechat it was taken, and the
//! size and SHA-256 of every other file in it. It is written last, inside the folder that is
//! renamed into place only once everything is on disk; a folder without a manifest, or with
//! a file that does not match it, is not restored.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::error::BackupError;
use crate::fsio;
use crate::take::FILES;

/// The manifest's file name inside a backup.
pub const MANIFEST: &str = "manifest.json";
/// What `format` says.
pub const FORMAT: &str = "securechat-backup";
/// The layout version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A backup's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The securechat that took it.
    pub securechat_version: String,
    /// When the snapshot was taken: Unix ms, and as UTC text.
    pub taken_at_ms: i64,
    pub taken_at: String,
    /// How long taking it took, in milliseconds.
    pub duration_ms: u64,
    pub database: DatabaseEntry,
    /// Rows per table in the snapshot, and `messages_with_content`.
    pub counts: BTreeMap<String, u64>,
    pub files: FilesEntry,
    pub token_secret: SecretEntry,
    /// Every file of the backup but the manifest, by path relative to the backup folder.
    pub checksums: BTreeMap<String, Checksum>,
}

/// The database dump.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseEntry {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The dump's file (`database.sqlite3`, a SQLite database; `database.pgdump`, a
    /// `pg_dump --format=custom` archive).
    pub file: String,
    /// Migrations applied in the snapshot, and the newest of them (`0007_accounts`).
    pub migrations: usize,
    pub latest_migration: Option<String>,
    pub latest_migration_version: Option<i64>,
}

/// The file blobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesEntry {
    /// `local`: the blobs are in `files/<hex id>` here; `s3`: they stay in the bucket, and
    /// `list` names them.
    pub storage: String,
    /// The bucket (`s3://bucket/prefix at endpoint`), for `s3`.
    pub location: Option<String>,
    /// Files the snapshot's rows name, and their bytes.
    pub count: u64,
    pub bytes: u64,
    /// For `s3`: the file listing their object names (hex ids) and sizes.
    pub list: Option<String>,
    /// Files named by a row whose blob was gone when it was copied (its message was deleted
    /// while the backup ran); hex ids.
    pub missing: Vec<String>,
}

/// The token signing secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretEntry {
    /// The secret's file in the backup, if it is in it.
    pub file: Option<String>,
    /// Where it came from: `data folder`, `configured` (--token-secret), or `none`.
    pub source: String,
}

/// One file's size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checksum {
    pub bytes: u64,
    pub sha256: String,
}

impl From<fsio::Digest> for Checksum {
    fn from(d: fsio::Digest) -> Self {
        Self {
            bytes: d.bytes,
            sha256: d.sha256,
        }
    }
}

impl Manifest {
    /// The bytes of the backup's files (the manifest aside).
    pub fn total_bytes(&self) -> u64 {
        self.checksums.values().map(|c| c.bytes).sum()
    }

    /// Live messages in the snapshot.
    pub fn messages(&self) -> u64 {
        self.counts
            .get(securechat_store::backup::LIVE_MESSAGES)
            .copied()
            .unwrap_or(0)
    }
}

/// A manifest path that stays inside the backup folder.
fn safe(relative: &str) -> bool {
    let path = Path::new(relative);
    !relative.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Reads the manifest of the backup `dir` and checks every file it lists (present, same size,
/// same SHA-256), and that it lists the database dump and the secret it names. Any failure
/// names the file.
/// The largest manifest read (a million files' checksums fit in well under this).
const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

pub fn verify(dir: &Path) -> Result<Manifest, BackupError> {
    let not = |reason: String| BackupError::NotABackup {
        dir: dir.to_owned(),
        reason,
    };
    let path = dir.join(MANIFEST);
    // A backup folder may come from anywhere: a manifest is small, so a huge one is refused
    // before it is read.
    if let Ok(meta) = std::fs::metadata(&path) {
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(not(format!(
                "its {MANIFEST} is {} bytes, more than a manifest can be",
                meta.len()
            )));
        }
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not(format!("it has no {MANIFEST}")))
        }
        Err(e) => return Err(BackupError::io("cannot read", path)(e)),
    };
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| not(format!("its {MANIFEST} is not a complete manifest ({e})")))?;
    if manifest.format != FORMAT {
        return Err(not(format!(
            "its {MANIFEST} is not a securechat backup's (format {:?})",
            manifest.format
        )));
    }
    if manifest.format_version > FORMAT_VERSION {
        return Err(BackupError::Mismatch(format!(
            "the backup was written by securechat {} in layout version {}; this securechat ({}) \
             reads version {FORMAT_VERSION} and older: restore it with a newer securechat",
            manifest.securechat_version,
            manifest.format_version,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let mut required = vec![manifest.database.file.clone()];
    required.extend(manifest.token_secret.file.clone());
    required.extend(manifest.files.list.clone());
    for file in &required {
        if !manifest.checksums.contains_key(file) {
            return Err(not(format!("its {MANIFEST} does not list {file}")));
        }
    }
    if manifest.files.storage == "local" {
        // Every file the snapshot names is either listed with its checksum or said missing.
        let listed = manifest
            .checksums
            .keys()
            .filter(|f| {
                f.strip_prefix(FILES)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .count() as u64;
        let accounted = listed + manifest.files.missing.len() as u64;
        if accounted != manifest.files.count {
            return Err(not(format!(
                "its {MANIFEST} names {} files but lists {listed} and {} missing",
                manifest.files.count,
                manifest.files.missing.len()
            )));
        }
    }
    for (file, expected) in &manifest.checksums {
        if !safe(file) {
            return Err(not(format!(
                "its {MANIFEST} names a path outside it: {file}"
            )));
        }
        let damaged = |problem: String| BackupError::Damaged {
            file: file.clone(),
            problem,
        };
        let actual = match fsio::hash(&dir.join(file)) {
            Ok(actual) => actual,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(damaged("is missing".to_owned()))
            }
            Err(e) => return Err(damaged(format!("cannot be read ({e})"))),
        };
        if actual.bytes != expected.bytes {
            return Err(damaged(format!(
                "has {} bytes where the manifest says {}",
                actual.bytes, expected.bytes
            )));
        }
        if actual.sha256 != expected.sha256 {
            return Err(damaged(format!(
                "does not match its SHA-256 in the manifest (expected {}, found {})",
                expected.sha256, actual.sha256
            )));
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn manifest_paths_stay_inside_the_backup() {
        assert!(safe("database.sqlite3"));
        assert!(safe("files/00ff"));
        assert!(!safe("../x"));
        assert!(!safe("/etc/passwd"));
        assert!(!safe("files/../../x"));
        assert!(!safe("./x"));
        assert!(!safe(""));
    }
}
