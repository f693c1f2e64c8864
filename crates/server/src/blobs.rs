//! Encrypted file bytes on disk, under `<data-dir>/files/<hex id>`. Uploads stream to a
//! temporary file that is renamed into place only when complete, so nothing partial is ever
//! served or left behind.

use std::path::{Path, PathBuf};

use axum::body::Body;
use futures_util::StreamExt as _;
use rand::RngCore as _;
use tokio::io::AsyncWriteExt as _;

use securechat_store::model::FileId;

/// Longest pause between two pieces of an upload's body.
const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the upload was interrupted: {0}")]
    Body(String),
    #[error("file storage failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The file store.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
    tmp: PathBuf,
}

impl Blobs {
    /// Opens (creating) `<data_dir>/files`, and clears uploads a crash left half-done.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("files");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        for entry in std::fs::read_dir(&tmp)?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(Self { root, tmp })
    }

    fn path(&self, id: &FileId) -> PathBuf {
        self.root.join(hex::encode(id))
    }

    /// Streams `body` to disk under a fresh random id; refuses more than `limit` bytes.
    pub async fn store(&self, body: Body, limit: u64) -> Result<(FileId, u64), BlobError> {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let part = self.tmp.join(format!("{}.part", hex::encode(id)));
        let result = self.write(&part, body, limit).await;
        match result {
            Ok(size) => {
                tokio::fs::rename(&part, self.path(&id)).await?;
                Ok((id, size))
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    async fn write(&self, part: &Path, body: Body, limit: u64) -> Result<u64, BlobError> {
        let mut file = tokio::fs::File::create(part).await?;
        let mut size: u64 = 0;
        let mut stream = body.into_data_stream();
        loop {
            // An upload holds one of the few upload turns: one that stalls gives it back.
            let next = tokio::time::timeout(BODY_IDLE, stream.next())
                .await
                .map_err(|_| {
                    BlobError::Body(format!(
                        "no data for {} s; the upload was abandoned",
                        BODY_IDLE.as_secs()
                    ))
                })?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(BlobError::TooLarge(limit));
            }
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        Ok(size)
    }

    /// Opens a stored file for reading.
    pub async fn read(&self, id: &FileId) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(id)).await
    }

    /// Deletes a stored file (missing is fine).
    pub async fn remove(&self, id: &FileId) {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(error = %e, "could not delete a file"),
        }
    }
}
