//! Getting back in: a one-time reset code (made by an operator with `securechat admin
//! reset-password`) sets a new password. The keys stay as they are: the server never had
//! them, and the account's history stays readable only with the owner's key file.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use securechat_proto::auth::ResetPasswordRequest;
use securechat_store::StoreError;

use crate::auth::client_ip::client_ip;
use crate::auth::codes;
use crate::clock::now_ms;
use crate::cluster::wire::Revocation;
use crate::error::ApiError;
use crate::http::accounts::check_new_password;
use crate::http::json::ApiJson;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/auth/password/reset", post(reset_password))
}

/// `POST /api/v1/auth/password/reset`: uses up a reset code, sets the new password and signs
/// the account out everywhere.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "accounts",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "password set; every session of the account revoked"),
        (status = 403, description = "the code is unknown, used or expired (`reset_code_invalid`)", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "new password refused (named in `field`)", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many wrong codes from this address", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    check_new_password("new_password", &req.new_password)?;
    // Codes carry 128 random bits; the limit keeps a guesser from costing Argon2 work.
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    let limit_key = format!("password-reset {ip}");
    state
        .login_guard()
        .account()
        .check(&limit_key)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let hash = state
        .passwords()
        .hash(&req.new_password.0)
        .await
        .map_err(ApiError::internal)?;
    let (user, revoked) = match state
        .store()
        .reset_password(&codes::hash(&req.code), &hash, now_ms())
        .await
    {
        Ok(done) => done,
        Err(e @ StoreError::Refused(_)) => {
            state.password_check_failed(&limit_key);
            tracing::warn!(%ip, error = %e, "password reset refused");
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    state.revoke_sessions(&revoked, Revocation::PasswordReset);
    tracing::info!(user.id = %user, revoked = revoked.len(), "password reset with a one-time code");
    Ok(StatusCode::NO_CONTENT)
}
