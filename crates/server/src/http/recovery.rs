//! Getting back in: a one-time reset code (made by an operator with `securechat admin
//! reset-password`) sets a new password. The keys stay as they are: the server never had
//! them, and the account's history stays readable only with the owner's key file.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use securechat_proto::auth::{ForgotPasswordRequest, ResetPasswordRequest};
use securechat_store::model::NewReset;
use securechat_store::StoreError;

use crate::auth::client_ip::client_ip;
use crate::auth::codes::{self, LinkKind, OneTimeCode};
use crate::clock::now_ms;
use crate::cluster::wire::Revocation;
use crate::error::ApiError;
use crate::http::accounts::{check_new_password, new_credential, passwords_refused};
use crate::http::json::ApiJson;
use crate::http::token::canonical_login;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/password/reset", post(reset_password))
        .route("/api/v1/auth/password/forgot", post(forgot_password))
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
    // The new password's rules first (a record is checked when it is parsed).
    match (&req.new_password, &req.registration_record) {
        (Some(password), None) => {
            if !state.settings().password_logins.takes_passwords() {
                return Err(passwords_refused("new_password"));
            }
            check_new_password("new_password", password)?;
        }
        (None, Some(record)) => {
            crate::http::opaque::record_field("registration_record", record)?;
        }
        _ => {
            return Err(ApiError::field(
                "registration_record",
                "give exactly one of registration_record and new_password",
            ))
        }
    }
    // Every attempt counts, before the Argon2 work: codes carry 128 random bits, and the
    // limit keeps a burst of requests from queueing hashes on the threads logins use.
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    state
        .recovery_limits()
        .0
        .try_record(&format!("reset {ip}"))
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let credential = new_credential(
        &state,
        req.new_password.as_ref(),
        req.registration_record.as_deref(),
        "new_password",
        "registration_record",
    )
    .await?;
    let (user, revoked) = match state
        .store()
        .reset_password(&codes::hash(&req.code), &credential, now_ms())
        .await
    {
        Ok(done) => done,
        Err(e @ StoreError::Refused(_)) => {
            tracing::warn!(%ip, error = %e, "password reset refused");
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    state.revoke_sessions(&revoked, Revocation::PasswordReset);
    tracing::info!(user.id = %user, revoked = revoked.len(), "password reset with a one-time code");
    Ok(StatusCode::NO_CONTENT)
}

/// How long a mailed reset link works.
const MAILED_CODE_TTL_MS: i64 = 3_600_000;

/// `POST /api/v1/auth/password/forgot`: mails a reset link to the account's address, when
/// mail is configured. The answer is the same whether or not the account exists, and comes
/// before any mail is sent, so it tells nobody which accounts exist.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "accounts",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "if the account exists, a reset link is on its way"),
        (status = 404, description = "this server sends no mail: ask its operator for a reset code", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many requests from this address", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ForgotPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let (Some(mailer), Some(public_url)) = (
        state.settings().mail.clone(),
        state.settings().public_url.clone(),
    ) else {
        return Err(ApiError::NotFound);
    };
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    // Every request counts: nobody may make the server mail a stream of links.
    state
        .recovery_limits()
        .0
        .try_record(&format!("forgot {ip}"))
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let login = canonical_login(&req.login);
    tokio::spawn(async move {
        let found = match login {
            Some(login) => state.store().find_user_by_login(&login).await,
            None => Ok(None),
        };
        let user = match found {
            Ok(Some(user)) => user,
            Ok(None) => {
                tracing::info!("password reset asked for an unknown account; no mail sent");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "password reset: the account lookup failed");
                return;
            }
        };
        // One mail per account per failed-login window at most.
        if state
            .recovery_limits()
            .1
            .try_record(&user.id.to_string())
            .is_err()
        {
            tracing::warn!(user.id = %user.id, "password reset mail held back: one was sent recently");
            return;
        }
        let code = OneTimeCode::generate();
        let now = now_ms();
        let stored = state
            .store()
            .create_reset(NewReset {
                code_hash: code.hash,
                user: user.id,
                created_at: now,
                expires_at: now + MAILED_CODE_TTL_MS,
            })
            .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "password reset: the code could not be stored");
            return;
        }
        let link = codes::link(&public_url, LinkKind::Reset, &code.code);
        match mailer
            .send_reset(&user.email, &user.username, &link, &public_url)
            .await
        {
            Ok(()) => {
                tracing::info!(user.id = %user.id, relay = mailer.relay(), "password reset link mailed")
            }
            Err(e) => {
                tracing::error!(user.id = %user.id, relay = mailer.relay(), error = %e, "password reset mail failed")
            }
        }
    });
    Ok(StatusCode::ACCEPTED)
}
