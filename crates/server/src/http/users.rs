//! The user directory and public keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use securechat_crypto::binding::verify_published_key;
use securechat_crypto::identity::IdentityKey;
use securechat_proto::b64;
use securechat_proto::ids::UserId;
use securechat_proto::keys::{EncryptionKeyRecord, KeyStatus, NewEncryptionKey, UserKeys};
use securechat_proto::users::UserSummary;
use securechat_store::error::Conflict;
use securechat_store::model::EncryptionKeyRow;
use securechat_store::StoreError;

use crate::auth::extract::AuthUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::key_checks::{key_rejection, CLOCK_SKEW_MS};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list))
        .route("/api/v1/users/online", get(online))
        .route("/api/v1/users/{id}/keys", get(keys))
        .route("/api/v1/me/keys", post(publish_key))
}

async fn directory(state: &AppState) -> Result<Vec<UserSummary>, ApiError> {
    Ok(state
        .store()
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserSummary {
            online: !u.deleted && state.hub().is_online(u.id),
            id: u.id,
            username: u.username,
            deleted: u.deleted,
        })
        .collect())
}

/// `GET /api/v1/users`: every user, with whether they are online.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [UserSummary]), (status = 401, body = securechat_proto::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _auth: AuthUser,
) -> Result<Json<Vec<UserSummary>>, ApiError> {
    directory(&state).await.map(Json)
}

/// `GET /api/v1/users/online`: the users online now.
#[utoipa::path(get, path = "/api/v1/users/online", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [UserSummary]), (status = 401, body = securechat_proto::error::ErrorBody)))]
pub async fn online(
    State(state): State<AppState>,
    _auth: AuthUser,
) -> Result<Json<Vec<UserSummary>>, ApiError> {
    let mut users = directory(&state).await?;
    users.retain(|u| u.online);
    Ok(Json(users))
}

fn record(row: EncryptionKeyRow) -> EncryptionKeyRecord {
    EncryptionKeyRecord {
        key_id: b64::encode(row.key_id),
        x25519: b64::encode(row.x25519),
        created_at: row.created_at,
        status: row.status,
        binding_sig: b64::encode(row.binding_sig),
    }
}

/// `GET /api/v1/users/{id}/keys`: a user's identity key and encryption-key history.
#[utoipa::path(get, path = "/api/v1/users/{id}/keys", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id (UUID)")),
    responses((status = 200, body = UserKeys), (status = 404, body = securechat_proto::error::ErrorBody)))]
pub async fn keys(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserKeys>, ApiError> {
    let id: UserId = id
        .parse()
        .map_err(|_| ApiError::field("id", "not a UUID"))?;
    let user = state
        .store()
        .get_user(id)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or(ApiError::NotFound)?;
    let keys = state.store().list_keys(id).await?;
    Ok(Json(UserKeys {
        user_id: id,
        username: user.username,
        identity_key: b64::encode(user.identity_key),
        encryption_keys: keys.into_iter().map(record).collect(),
    }))
}

/// `POST /api/v1/me/keys`: publishes a new encryption key (rotation); older keys are retired,
/// never deleted.
#[utoipa::path(post, path = "/api/v1/me/keys", tag = "users", security(("bearer" = [])),
    request_body = NewEncryptionKey,
    responses(
        (status = 201, body = EncryptionKeyRecord),
        (status = 409, description = "key already published", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "invalid key or binding", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn publish_key(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(key): ApiJson<NewEncryptionKey>,
) -> Result<(StatusCode, Json<EncryptionKeyRecord>), ApiError> {
    let user = state
        .store()
        .get_user(auth.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    let identity = IdentityKey::from_bytes(&user.identity_key)
        .map_err(|e| ApiError::fault(format!("stored identity key invalid: {e}")))?;
    let verified =
        verify_published_key(&identity, &auth.user_id, &key).map_err(|r| key_rejection("", &r))?;
    if verified.created_at > now_ms() + CLOCK_SKEW_MS {
        return Err(ApiError::field("created_at", "created_at is in the future"));
    }
    let row = EncryptionKeyRow {
        key_id: verified.key_id,
        x25519: verified.x25519.to_bytes(),
        created_at: verified.created_at,
        binding_sig: verified.binding_sig,
        status: KeyStatus::Active,
    };
    // The store checks, in the same transaction that publishes it, that the key id is new and
    // the key newer than every published one.
    match state.store().add_key(auth.user_id, row.clone()).await {
        Err(StoreError::Conflict(Conflict::KeyOrder)) => {
            return Err(ApiError::field(
                "created_at",
                "a new key must be newer than every published key",
            ))
        }
        other => other?,
    }
    tracing::info!("encryption key rotated");
    Ok((StatusCode::CREATED, Json(record(row))))
}
