//! One streamed upload: a body that fits in one part is stored with a single put, a larger
//! one as a multipart upload that is aborted on any failure (also when the request is
//! dropped half-way), so the object exists whole or not at all.

use axum::body::{Body, BodyDataStream, Bytes};
use futures_util::StreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};

use super::{BlobError, BODY_IDLE};

/// Parts sent to the storage at once while the next one is read from the client.
const PARTS_IN_FLIGHT: usize = 2;

/// Streams `body` to `path`; at most `limit` bytes. Memory held: about
/// `(PARTS_IN_FLIGHT + 1) × part_size`.
pub(super) async fn stream(
    objects: &dyn ObjectStore,
    path: &Path,
    body: Body,
    limit: u64,
    part_size: usize,
) -> Result<u64, BlobError> {
    let mut body = Counted {
        stream: body.into_data_stream(),
        size: 0,
        limit,
    };
    // The first part: buffered, since most files are small and one put is cheapest.
    let mut first = Vec::new();
    let mut buffered = 0;
    while buffered < part_size {
        let Some(chunk) = body.next().await? else {
            objects.put(path, PutPayload::from_iter(first)).await?;
            return Ok(body.size);
        };
        buffered += chunk.len();
        first.push(chunk);
    }
    let mut upload = Upload(Some(WriteMultipart::new_with_chunk_size(
        objects.put_multipart(path).await?,
        part_size,
    )));
    match upload.send(first, &mut body).await {
        Ok(()) => {
            upload.finish().await?;
            Ok(body.size)
        }
        Err(e) => {
            upload.abort().await;
            Err(e)
        }
    }
}

/// The client's body, counted against the limit, with an idle timeout.
struct Counted {
    stream: BodyDataStream,
    size: u64,
    limit: u64,
}

impl Counted {
    /// The next piece, or `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>, BlobError> {
        // An upload holds one of the few upload turns: one that stalls gives it back.
        let next = tokio::time::timeout(BODY_IDLE, self.stream.next())
            .await
            .map_err(|_| {
                BlobError::Body(format!(
                    "no data for {} s; the upload was abandoned",
                    BODY_IDLE.as_secs()
                ))
            })?;
        let Some(chunk) = next else { return Ok(None) };
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(BlobError::TooLarge(self.limit));
        }
        Ok(Some(chunk))
    }
}

/// A multipart upload in progress; dropped unfinished (the request went away), it is
/// aborted in the background.
struct Upload(Option<WriteMultipart>);

impl Upload {
    async fn send(&mut self, first: Vec<Bytes>, body: &mut Counted) -> Result<(), BlobError> {
        let Some(writer) = self.0.as_mut() else {
            return Ok(());
        };
        for chunk in first {
            writer.put(chunk);
        }
        while let Some(chunk) = body.next().await? {
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            writer.put(chunk);
        }
        Ok(())
    }

    /// Sends the last part and completes the upload: the object appears whole.
    async fn finish(mut self) -> Result<(), BlobError> {
        if let Some(writer) = self.0.take() {
            writer.finish().await?;
        }
        Ok(())
    }

    /// Cancels the upload and deletes the parts already sent.
    async fn abort(mut self) {
        if let Some(writer) = self.0.take() {
            if let Err(e) = writer.abort().await {
                tracing::warn!(error = %e, "could not abort a failed upload");
            }
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = writer.abort().await {
                        tracing::warn!(error = %e, "could not abort an abandoned upload");
                    }
                });
            }
        }
    }
}
