//! Encrypted file bytes on object storage, through the `object_store` crate: a local folder
//! (`<data-dir>/files/<hex id>`, the default) or an S3-compatible bucket shared by every node
//! of a cluster (`s3://bucket/prefix`, objects `<prefix>/<hex id>`).
//!
//! Either way an upload streams in and becomes visible under its id only when complete: the
//! folder stages it in a file renamed into place, the bucket assembles a multipart upload
//! that exists as an object only once completed. A failed, too-large or stalled upload is
//! aborted, so nothing partial is ever served or left behind.

mod local;
mod s3;
mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use rand::RngCore as _;

use securechat_store::model::FileId;

pub use s3::{S3Credentials, S3Options, S3UrlError};

/// Longest pause between two pieces of an upload's body, and of a download read from the
/// storage.
const BODY_IDLE: Duration = Duration::from_secs(30);

/// Why a file operation failed. `http::files` maps it to a response once (`error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The upload passed the size limit (it was aborted: nothing of it remains).
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// The client's body failed or stalled (the upload was aborted).
    #[error("the upload was interrupted: {0}")]
    Body(String),
    /// No object under this id.
    #[error("no such file in the file storage")]
    NotFound,
    /// The storage (folder or bucket) failed or could not be reached.
    #[error("file storage failed: {0}")]
    Storage(#[from] object_store::Error),
    /// The storage stopped answering while a download waited for it.
    #[error("the file storage stalled: {0}")]
    Stalled(String),
    /// A local file operation failed (creating the folder, syncing a file).
    #[error("file storage failed: {0}")]
    Io(#[from] std::io::Error),
    /// The bucket did not answer the start-up check.
    #[error("the file storage {location} is not reachable")]
    Unreachable {
        location: String,
        #[source]
        source: object_store::Error,
    },
}

/// A download: the object's bytes as they arrive from the storage.
pub type BlobStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// Where the file store keeps its objects.
#[derive(Debug, Clone)]
enum Backend {
    /// A folder on this machine: uploads are synced to disk before they count.
    Local { root: PathBuf },
    /// An S3-compatible bucket (`describe` is `s3://bucket/prefix`).
    S3 { describe: String },
}

/// The file store.
#[derive(Debug, Clone)]
pub struct Blobs {
    /// Uploads, deletes, the start-up check: every request under an overall timeout.
    objects: Arc<dyn ObjectStore>,
    /// Downloads: no overall timeout (a slow reader may take long), an idle one instead.
    reads: Arc<dyn ObjectStore>,
    backend: Backend,
}

impl Blobs {
    /// The local folder `<data_dir>/files` (created), with the leftovers of uploads a crash
    /// interrupted cleared.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("files");
        let objects: Arc<dyn ObjectStore> = Arc::new(local::open(&root)?);
        Ok(Self {
            reads: objects.clone(),
            objects,
            backend: Backend::Local { root },
        })
    }

    /// The S3-compatible bucket `options` name, after one cheap request proving it is
    /// reachable with these credentials.
    pub async fn s3(options: &S3Options) -> Result<Self, BlobError> {
        let (objects, reads) = s3::open(options)?;
        let blobs = Self {
            objects,
            reads,
            backend: Backend::S3 {
                describe: options.to_string(),
            },
        };
        blobs.check().await?;
        Ok(blobs)
    }

    /// Where the files are, for the log (no credentials).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local { root } => root.display().to_string(),
            Backend::S3 { describe } => describe.clone(),
        }
    }

    /// Where the files are, as every node of a cluster must see it the same: the bucket (and
    /// endpoint and prefix), or just "a local folder" (each node names its own path; a
    /// shared one is the operator's to mount).
    pub fn shared_location(&self) -> String {
        match &self.backend {
            Backend::Local { .. } => "a local folder".to_owned(),
            Backend::S3 { describe } => describe.clone(),
        }
    }

    /// One listing request of at most one page: fails when the bucket is missing, the
    /// endpoint does not answer or the credentials are refused.
    pub async fn check(&self) -> Result<(), BlobError> {
        match self.objects.list(None).next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(source)) => Err(BlobError::Unreachable {
                location: self.describe(),
                source,
            }),
        }
    }

    /// Where the local folder backend keeps the file `id` under `data_dir` (backups read and
    /// restore it there).
    pub fn local_path(data_dir: &Path, id: &FileId) -> PathBuf {
        data_dir.join("files").join(hex::encode(id))
    }

    fn path(id: &FileId) -> ObjectPath {
        ObjectPath::from(hex::encode(id))
    }

    /// Streams `body` into the storage under a fresh random id; refuses more than `limit`
    /// bytes. On any failure nothing of the upload remains.
    pub async fn store(&self, body: Body, limit: u64) -> Result<(FileId, u64), BlobError> {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let path = Self::path(&id);
        let part_size = match self.backend {
            Backend::Local { .. } => local::PART_SIZE,
            Backend::S3 { .. } => s3::PART_SIZE,
        };
        let size = upload::stream(self.objects.as_ref(), &path, body, limit, part_size).await?;
        if let Backend::Local { root } = &self.backend {
            // Durable before the caller records it; if this fails the file goes again.
            if let Err(e) = local::sync(&root.join(path.as_ref())).await {
                self.remove(&id).await;
                return Err(e.into());
            }
        }
        Ok((id, size))
    }

    /// Opens a stored file for streaming; [`BlobError::NotFound`] when there is none.
    pub async fn read(&self, id: &FileId) -> Result<BlobStream, BlobError> {
        let got = tokio::time::timeout(BODY_IDLE, self.reads.get(&Self::path(id)))
            .await
            .map_err(|_| BlobError::Stalled(format!("no answer within {BODY_IDLE:?}")))?;
        let result = match got {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let stream = result.into_stream();
        Ok(
            futures_util::stream::unfold(Some(stream), |stream| async move {
                let mut stream = stream?;
                match tokio::time::timeout(BODY_IDLE, stream.next()).await {
                    Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(stream))),
                    Ok(Some(Err(e))) => Some((Err(BlobError::Storage(e)), None)),
                    Ok(None) => None,
                    Err(_) => Some((
                        Err(BlobError::Stalled(format!(
                            "nothing sent for {BODY_IDLE:?}"
                        ))),
                        None,
                    )),
                }
            })
            .boxed(),
        )
    }

    /// Deletes a stored file (missing is fine; a failure is logged).
    pub async fn remove(&self, id: &FileId) {
        match self.objects.delete(&Self::path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::error!(error = %e, "could not delete a file"),
        }
    }
}
