//! OPAQUE (RFC 9807, docs/PROTOCOL.md §18): the first steps of registration, login,
//! password proof, password change and reset. The second steps finish at the existing
//! endpoints (registration, the token endpoint, the reset) or at `password/finish`.
//!
//! Every OPRF evaluation under an existing account's key is either counted against the
//! failed-login limits (a login, a proof) or needs a proof (a password change) or a reset
//! code: free evaluations would let anyone who once saw a login answer guess offline.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use securechat_opaque::{server, sizes, OpaqueError};
use securechat_proto::auth::Password;
use securechat_proto::b64;
use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::opaque::{
    ConfirmRequest, LoginStartRequest, LoginStartResponse, PasswordFinishRequest,
    PasswordStartRequest, RegisterStartRequest, RegistrationStartResponse, ResetStartRequest,
};
use securechat_store::model::{Credential, UserRow};
use securechat_store::StoreError;

use crate::auth::client_ip::client_ip;
use crate::auth::codes;
use crate::auth::extract::AuthUser;
use crate::auth::opaque::{record_digest, Pending, Purpose, PENDING_TTL_MS};
use crate::clock::now_ms;
use crate::cluster::wire::Revocation;
use crate::error::ApiError;
use crate::http::accounts::{check_user_id, confirm_password, registration_gate_open};
use crate::http::json::ApiJson;
use crate::http::token::LoginAttempt;
use crate::metrics::LOGINS;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/opaque/register/start", post(register_start))
        .route("/api/v1/auth/opaque/login/start", post(login_start))
        .route("/api/v1/auth/opaque/confirm", post(confirm))
        .route("/api/v1/auth/opaque/password/start", post(password_start))
        .route("/api/v1/auth/opaque/password/finish", post(password_finish))
        .route("/api/v1/auth/opaque/reset/start", post(reset_start))
}

/// A base64url field of exactly `len` bytes.
pub(crate) fn bytes_field(field: &str, value: &str, len: usize) -> Result<Vec<u8>, ApiError> {
    b64::decode(value)
        .ok()
        .filter(|bytes| bytes.len() == len)
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!("{field} must be {len} bytes in base64url without padding"),
            )
        })
}

/// An uploaded registration record, checked and as stored.
pub(crate) fn record_field(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = bytes_field(field, value, sizes::REGISTRATION_RECORD)?;
    server::record(&bytes).map_err(|e| ApiError::field(field, e.to_string()))
}

/// The server's answer to a registration request for the account `id`.
fn registration_response(
    state: &AppState,
    request: &str,
    id: UserId,
) -> Result<Json<RegistrationStartResponse>, ApiError> {
    let request = bytes_field("registration_request", request, sizes::REGISTRATION_REQUEST)?;
    let response = server::registration_response(state.opaque().setup(), &request, id.0.as_bytes())
        .map_err(|e| ApiError::field("registration_request", e.to_string()))?;
    Ok(Json(RegistrationStartResponse {
        registration_response: b64::encode(response),
    }))
}

/// `POST /api/v1/auth/opaque/register/start`: the registration's first step, for a new
/// account's id.
#[utoipa::path(post, path = "/api/v1/auth/opaque/register/start", tag = "accounts",
    request_body = RegisterStartRequest,
    responses(
        (status = 200, body = RegistrationStartResponse),
        (status = 403, description = "registration closed (`registration_closed`)", body = securechat_proto::error::ErrorBody),
        (status = 409, description = "an account has this id already", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "invalid field", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %req.user_id))]
pub async fn register_start(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterStartRequest>,
) -> Result<Json<RegistrationStartResponse>, ApiError> {
    check_user_id(&req.user_id.0)?;
    registration_gate_open(&state)?;
    // An existing account's key is never evaluated for free.
    if state.store().get_user(req.user_id).await?.is_some() {
        return Err(StoreError::Conflict(securechat_store::error::Conflict::UserId).into());
    }
    registration_response(&state, &req.registration_request, req.user_id)
}

/// The credential identifier of a login name without an account.
fn unknown_credential(login: &str) -> Vec<u8> {
    let mut id = b"unknown:".to_vec();
    id.extend_from_slice(login.as_bytes());
    id
}

/// Runs the server's first login step and seals what the finish needs.
fn start(
    state: &AppState,
    user: Option<&UserRow>,
    credential_id: &[u8],
    request: &[u8],
    pending: Pending,
) -> Result<LoginStartResponse, ApiError> {
    let record = user.and_then(|u| u.credential.opaque_record());
    let (server_state, response) = server::login_start(
        &mut rand::rngs::OsRng,
        state.opaque().setup(),
        record,
        request,
        credential_id,
    )
    .map_err(|e| match e {
        OpaqueError::Malformed(_) => ApiError::field("credential_request", e.to_string()),
        e => ApiError::internal(e),
    })?;
    let pending = Pending {
        user: record.and(user.map(|u| u.id)),
        record_digest: record_digest(record),
        state: server_state,
        ..pending
    };
    Ok(LoginStartResponse {
        login_id: state.opaque().seal(&pending),
        credential_response: b64::encode(response),
    })
}

/// `POST /api/v1/auth/opaque/login/start`: a login's first step. Counted as a failed login
/// until the token endpoint's OPAQUE grant finishes it.
#[utoipa::path(post, path = "/api/v1/auth/opaque/login/start", tag = "accounts",
    request_body = LoginStartRequest,
    responses(
        (status = 200, description = "the same for an unknown name or an account without an OPAQUE record (a fake answer no password opens)", body = LoginStartResponse),
        (status = 422, description = "invalid field", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many failed logins; see Retry-After", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(ip = tracing::field::Empty))]
pub async fn login_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginStartRequest>,
) -> Result<Json<LoginStartResponse>, ApiError> {
    let request = bytes_field(
        "credential_request",
        &req.credential_request,
        sizes::CREDENTIAL_REQUEST,
    )?;
    let counted = match LoginAttempt::admit(&state, peer, &headers, &req.username).await? {
        Ok(counted) => counted,
        Err(retry_after) => return Err(ApiError::RateLimited { retry_after }),
    };
    let attempt = counted.attempt();
    let (user, now) = (&counted.user, now_ms());
    // Counted at once (a wrong password never comes back to say so), next to the check, so
    // that starts sent together cannot all pass it.
    state.login_failed(&attempt);
    let credential_id = match user {
        Some(user) => user.id.0.as_bytes().to_vec(),
        None => unknown_credential(counted.login.as_deref().unwrap_or(&counted.typed)),
    };
    let started = start(
        &state,
        user.as_ref(),
        &credential_id,
        &request,
        Pending {
            purpose: Purpose::Login,
            expires_at: now + PENDING_TTL_MS,
            user: None,
            known_source: counted.known_source,
            ip: counted.ip_key.clone(),
            // Only a finished login needs it, and only a real account finishes.
            account: if user
                .as_ref()
                .is_some_and(|u| u.credential.opaque_record().is_some())
            {
                counted.account_key.clone()
            } else {
                String::new()
            },
            session: SessionId::generate(),
            record_digest: [0; 16],
            state: Vec::new(),
        },
    )?;
    metrics::counter!(LOGINS, "outcome" => "opaque_started").increment(1);
    Ok(Json(started))
}

/// `POST /api/v1/auth/opaque/confirm`: a signed-in user's proof of the current password,
/// first step. Counted against the account's failed-password limit until a finish uses it.
#[utoipa::path(post, path = "/api/v1/auth/opaque/confirm", tag = "accounts",
    request_body = ConfirmRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = LoginStartResponse),
        (status = 422, description = "invalid field", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many wrong passwords", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn confirm(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<Json<LoginStartResponse>, ApiError> {
    let request = bytes_field(
        "credential_request",
        &req.credential_request,
        sizes::CREDENTIAL_REQUEST,
    )?;
    let account_key = auth.user_id.to_string();
    state
        .login_guard()
        .account()
        .check(&account_key)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let user = live_user(&state, auth.user_id).await?;
    let started = start(
        &state,
        Some(&user),
        user.id.0.as_bytes(),
        &request,
        Pending {
            purpose: Purpose::Confirm,
            expires_at: now_ms() + PENDING_TTL_MS,
            user: None,
            known_source: false,
            ip: String::new(),
            account: account_key.clone(),
            session: SessionId::generate(),
            record_digest: [0; 16],
            state: Vec::new(),
        },
    )?;
    state.password_check_failed(&account_key);
    Ok(Json(started))
}

async fn live_user(state: &AppState, id: UserId) -> Result<UserRow, ApiError> {
    state
        .store()
        .get_user(id)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or(ApiError::Unauthorized("the account no longer exists"))
}

/// Checks a proof of the current password made with `confirm` for the signed-in user;
/// `forgive` takes its counted failure back (once per proof: the first use). Returns the
/// live account.
pub(crate) async fn verify_confirmation(
    state: &AppState,
    auth: &AuthUser,
    login_id: &str,
    finalization: &str,
    forgive: bool,
) -> Result<UserRow, ApiError> {
    let finalization = bytes_field(
        "credential_finalization",
        finalization,
        sizes::CREDENTIAL_FINALIZATION,
    )?;
    let pending = state
        .opaque()
        .open(login_id, Purpose::Confirm, now_ms())
        .filter(|p| p.user == Some(auth.user_id))
        .ok_or(ApiError::WrongPassword)?;
    server::login_finish(&pending.state, &finalization).map_err(|_| ApiError::WrongPassword)?;
    let user = live_user(state, auth.user_id).await?;
    if record_digest(user.credential.opaque_record()) != pending.record_digest {
        // The password changed since the proof was started.
        return Err(ApiError::WrongPassword);
    }
    if forgive {
        state.password_check_forgiven(&pending.account);
    }
    Ok(user)
}

/// The proof a password change carries: an OPAQUE one, or the current password for an
/// account that still has a hash (not on a server that takes OPAQUE only). `first_use`:
/// the use that ends the proof's life (the record changes), which takes its counted failure
/// back; a proof shown again before that forgives nothing.
async fn check_proof(
    state: &AppState,
    auth: &AuthUser,
    login_id: Option<&str>,
    finalization: Option<&str>,
    current_password: Option<&Password>,
    first_use: bool,
) -> Result<UserRow, ApiError> {
    match (login_id, finalization, current_password) {
        (Some(login_id), Some(finalization), None) => {
            verify_confirmation(state, auth, login_id, finalization, first_use).await
        }
        (None, None, Some(password)) => {
            confirm_password(state, auth, "current_password", password).await
        }
        _ => Err(ApiError::field(
            "current_password",
            "give either login_id and credential_finalization (from /api/v1/auth/opaque/confirm) \
             or current_password",
        )),
    }
}

/// `POST /api/v1/auth/opaque/password/start`: a new password's registration request, with
/// a proof of the current password.
#[utoipa::path(post, path = "/api/v1/auth/opaque/password/start", tag = "accounts",
    request_body = PasswordStartRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = RegistrationStartResponse),
        (status = 403, description = "the proof of the current password failed (`wrong_password`)", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "invalid field", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many wrong passwords", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn password_start(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<PasswordStartRequest>,
) -> Result<Json<RegistrationStartResponse>, ApiError> {
    check_proof(
        &state,
        &auth,
        req.login_id.as_deref(),
        req.credential_finalization.as_deref(),
        req.current_password.as_ref(),
        false,
    )
    .await?;
    registration_response(&state, &req.registration_request, auth.user_id)
}

/// `POST /api/v1/auth/opaque/password/finish`: sets the new record, with the same proof as
/// the start; signs out the other sessions unless the account is only moving to OPAQUE.
#[utoipa::path(post, path = "/api/v1/auth/opaque/password/finish", tag = "accounts",
    request_body = PasswordFinishRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "set; other sessions revoked (kept for an upgrade)"),
        (status = 403, description = "the proof of the current password failed (`wrong_password`)", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "invalid field", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many wrong passwords", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn password_finish(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<PasswordFinishRequest>,
) -> Result<StatusCode, ApiError> {
    let record = record_field("registration_record", &req.registration_record)?;
    if req.upgrade && req.current_password.is_none() {
        return Err(ApiError::field(
            "upgrade",
            "upgrade moves an account with a password hash: it needs current_password",
        ));
    }
    let user = check_proof(
        &state,
        &auth,
        req.login_id.as_deref(),
        req.credential_finalization.as_deref(),
        req.current_password.as_ref(),
        true,
    )
    .await?;
    if req.upgrade {
        let hash = user.credential.argon2_hash().unwrap_or_default();
        if !state
            .store()
            .upgrade_to_opaque(auth.user_id, hash, &record)
            .await?
        {
            return Err(ApiError::WrongPassword);
        }
        metrics::counter!(crate::metrics::OPAQUE_UPGRADES).increment(1);
        tracing::info!("account moved to OPAQUE");
        return Ok(StatusCode::NO_CONTENT);
    }
    let revoked = state
        .store()
        .change_password(
            auth.user_id,
            &Credential::Opaque(record),
            Some(auth.session_id),
            now_ms(),
        )
        .await?;
    state.revoke_sessions(&revoked, Revocation::PasswordChanged);
    tracing::info!(
        revoked = revoked.len(),
        "password changed (OPAQUE); other sessions revoked"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/opaque/reset/start`: a new password's registration request for the
/// account of a reset code (checked, not used up).
#[utoipa::path(post, path = "/api/v1/auth/opaque/reset/start", tag = "accounts",
    request_body = ResetStartRequest,
    responses(
        (status = 200, body = RegistrationStartResponse),
        (status = 403, description = "the code is unknown, used or expired (`reset_code_invalid`)", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "invalid field", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many attempts from this address", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn reset_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ResetStartRequest>,
) -> Result<Json<RegistrationStartResponse>, ApiError> {
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    state
        .recovery_limits()
        .0
        .try_record(&format!("reset {ip}"))
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let user = match state
        .store()
        .check_reset(&codes::hash(&req.code), now_ms())
        .await
    {
        Ok(user) => user,
        Err(e @ StoreError::Refused(_)) => {
            tracing::warn!(%ip, error = %e, "OPAQUE reset refused");
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    registration_response(&state, &req.registration_request, user)
}
