//! Encrypted file transfer: upload for one recipient, download by uploader or recipient.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use securechat_proto::b64;
use securechat_proto::ids::UserId;
use securechat_proto::messages::FileUploaded;
use securechat_store::model::FileRow;
use uuid::Uuid;

use crate::auth::extract::AuthUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::http::json::ApiQuery;
use crate::metrics::{FILES_STORED, FILE_BYTES_STORED};
use crate::state::AppState;

/// The policy of a downloaded file: a unique origin with no scripts and nothing loaded.
const DOWNLOAD_CSP: &str = "sandbox; default-src 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/files",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/files/{id}", get(download))
}

/// Query of the upload endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The user the file is for (the only other user who may download it).
    pub to: Option<String>,
    /// Or the group it is for (its members who receive the message carrying it may
    /// download it); the caller must be a member.
    pub group: Option<String>,
}

/// `POST /api/v1/files?to={user_id}` (or `?group={group_id}`): streams ciphertext to the file
/// storage under a random 128-bit id.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", security(("bearer" = [])),
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = FileUploaded),
        (status = 413, description = "larger than the configured limit", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "unknown recipient", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FileUploaded>), ApiError> {
    let recipient = match (query.to, query.group) {
        (Some(to), None) => {
            let recipient: UserId = to
                .parse()
                .map_err(|_| ApiError::field("to", "not a UUID"))?;
            if recipient == auth.user_id || !state.user_exists(recipient).await? {
                return Err(ApiError::field("to", "no such other user"));
            }
            recipient
        }
        (None, Some(group)) => {
            let group: Uuid = group
                .parse()
                .map_err(|_| ApiError::field("group", "not a UUID"))?;
            let members = state.store().group_members(group).await?;
            if !members.iter().any(|m| m.user == auth.user_id) {
                return Err(ApiError::field(
                    "group",
                    "you are not a member of this group",
                ));
            }
            UserId(group)
        }
        _ => {
            return Err(ApiError::field(
                "query",
                "name either `to` (a user) or `group` (a group), not both",
            ))
        }
    };
    let limit = state.settings().max_file_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge);
    }
    let turn = state.upload_turn().await?;
    let stored = state.blobs().store(body, limit).await;
    drop(turn);
    let (id, size) = stored?;
    let row = FileRow {
        id,
        uploader: auth.user_id,
        recipient,
        size,
        created_at: now_ms(),
    };
    if let Err(e) = state.store().create_file(row).await {
        state.blobs().remove(&id).await;
        return Err(e.into());
    }
    metrics::counter!(FILES_STORED).increment(1);
    metrics::counter!(FILE_BYTES_STORED).increment(size);
    tracing::info!(size, "file stored");
    Ok((
        StatusCode::CREATED,
        Json(FileUploaded {
            file_id: b64::encode(id),
            size,
        }),
    ))
}

/// `GET /api/v1/files/{id}`: streams a file to its uploader or recipient; 404 to anyone else,
/// exactly as for a file that does not exist.
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "file id, base64url")),
    responses(
        (status = 200, description = "the ciphertext", content_type = "application/octet-stream"),
        (status = 404, description = "no such file for you", body = securechat_proto::error::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: [u8; 16] = b64::decode_array(&id).map_err(|_| ApiError::NotFound)?;
    let row = state
        .store()
        .get_file(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // A group file's `recipient` is the group: its readers are the members who received the
    // message carrying it.
    let allowed = row.uploader == auth.user_id
        || row.recipient == auth.user_id
        || state.store().file_delivered_to(id, auth.user_id).await?;
    if !allowed {
        return Err(ApiError::NotFound);
    }
    let file = state.blobs().read(&id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, row.size.to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            // Saved, never rendered: a file opened directly runs in a sandbox with nothing
            // allowed instead of under the app's origin.
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
            (header::CONTENT_SECURITY_POLICY, DOWNLOAD_CSP.to_owned()),
        ],
        Body::from_stream(file),
    )
        .into_response())
}
