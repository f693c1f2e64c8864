//! Encrypted file blobs: the store keeps their access list; the bytes live on disk.

use crate::model::{FileId, FileRow};
use crate::StoreError;

/// Uploaded files.
#[async_trait::async_trait]
pub trait Files {
    /// Records an uploaded file (not yet carried by any message).
    async fn create_file(&self, file: FileRow) -> Result<(), StoreError>;

    /// Reads a file's record.
    async fn get_file(&self, id: FileId) -> Result<Option<FileRow>, StoreError>;
}
