//! The data folder belongs to one server process: `<data-dir>/securechat.lock` is locked
//! (an advisory lock the kernel drops when the process ends, however it ends) for the
//! process's life, and a second server on the same folder refuses to start instead of
//! splitting delivery with the first.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

use anyhow::Context as _;

/// The lock file's name inside the data folder.
pub const LOCK_FILE: &str = "securechat.lock";

/// Held while the server runs; the lock goes with it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data folder, or says which process holds it.
pub fn lock(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = data_dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another securechat process".to_owned()
            } else {
                format!("another securechat process (pid {holder})")
            };
            anyhow::bail!(
                "the data folder {} is in use by {who}; two servers on one data folder would \
                 split delivery between them. Stop the other one, or give this one its own \
                 --data-dir (several nodes share a PostgreSQL database and Redis, not a data \
                 folder)",
                data_dir.display()
            );
        }
        Err(fs4::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write the lock file {}", path.display()))?;
    Ok(DataDirLock { _file: file })
}
