//! The local folder backend: `object_store`'s `LocalFileSystem` over `<data-dir>/files`.
//! It stages an upload in `<hex id>#<n>` beside its final name and renames it into place when
//! complete; `open` clears stages a crash left behind, and the upload is synced to disk
//! before it counts.

use std::path::Path;

use object_store::local::LocalFileSystem;

/// Bytes buffered before a part is written to the staged file.
pub(super) const PART_SIZE: usize = 1024 * 1024;

/// Creates the folder and clears what interrupted uploads left in it: stages (`…#n`) and the
/// `tmp/` folder older versions staged in.
pub(super) fn open(root: &Path) -> std::io::Result<LocalFileSystem> {
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    for entry in std::fs::read_dir(&tmp)?.flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    for entry in std::fs::read_dir(root)?.flatten() {
        if entry.file_name().to_string_lossy().contains('#') {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    LocalFileSystem::new_with_prefix(root).map_err(std::io::Error::other)
}

/// Flushes a stored file to disk.
pub(super) async fn sync(path: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(path).await?.sync_all().await
}
