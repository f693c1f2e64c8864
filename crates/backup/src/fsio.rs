//! File work of backups and restores (blocking; run it off the async threads): private
//! folders and files, copies that hash what they copy, and syncs of files and folders so
//! that a rename publishes only what is on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::BackupError;

/// Bytes read at a time when copying or hashing.
const CHUNK: usize = 1 << 20;

/// A file's size and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub bytes: u64,
    pub sha256: String,
}

/// Creates a folder only its owner may enter (0700), with its missing parents.
pub fn create_private_dir(path: &Path) -> Result<(), BackupError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(BackupError::io("cannot create the folder", path))
}

/// Opens a new file only its owner may read (0600); fails if it exists.
fn create_private(path: &Path) -> Result<File, BackupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(BackupError::io("cannot create", path))
}

/// Makes an existing file private (0600).
pub fn make_private(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(BackupError::io("cannot restrict the permissions of", path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to a new private file and syncs it; returns its digest.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<Digest, BackupError> {
    let mut file = create_private(path)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(BackupError::io("cannot write", path))?;
    Ok(Digest {
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

/// Copies `from` to the new private file `to`, syncs it, and returns the digest of what was
/// copied.
pub fn copy_private(from: &Path, to: &Path) -> Result<Digest, BackupError> {
    let mut source = File::open(from).map_err(BackupError::io("cannot read", from))?;
    let mut target = create_private(to)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        let n = source
            .read(&mut buffer)
            .map_err(BackupError::io("cannot read", from))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        target
            .write_all(&buffer[..n])
            .map_err(BackupError::io("cannot write", to))?;
        bytes += n as u64;
    }
    target
        .sync_all()
        .map_err(BackupError::io("cannot sync", to))?;
    Ok(Digest {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Syncs a file already written (by someone else) and returns its digest.
pub fn sync_and_hash(path: &Path) -> Result<Digest, BackupError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.sync_all())
        .map_err(BackupError::io("cannot sync", path))?;
    hash(path).map_err(BackupError::io("cannot read", path))
}

/// The digest of a file, read once.
pub fn hash(path: &Path) -> std::io::Result<Digest> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(Digest {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Syncs a folder, so the names created or renamed in it are on disk.
pub fn sync_dir(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(BackupError::io("cannot sync the folder", path))
}

/// Whether `path` is missing or an empty folder.
pub fn missing_or_empty(path: &Path) -> Result<bool, BackupError> {
    match fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(BackupError::io("cannot read the folder", path)(e)),
    }
}

/// A folder removed with its contents when dropped, unless kept: a backup being built, or
/// the hard links pinning file blobs while it is.
#[derive(Debug)]
pub struct Scratch {
    path: std::path::PathBuf,
    keep: bool,
}

impl Scratch {
    /// Creates the private folder `path` (it must not exist).
    pub fn create(path: std::path::PathBuf) -> Result<Self, BackupError> {
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&path)
            .map_err(BackupError::io("cannot create the folder", &path))?;
        Ok(Self { path, keep: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the folder in place (it was renamed into place, or is wanted).
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            if let Err(e) = fs::remove_dir_all(&self.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.path.display(), error = %e, "could not remove a scratch folder");
                }
            }
        }
    }
}

/// A name unlikely to be taken twice: this process and the time in nanoseconds.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}

/// Removes the entries of `dir` whose names start with `prefix` and that were last changed
/// more than a day ago (scratch folders a crashed backup left behind).
pub fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let day = std::time::Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old {
            let path = entry.path();
            match fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed what an interrupted backup left behind")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove what an interrupted backup left behind")
                }
            }
        }
    }
}
