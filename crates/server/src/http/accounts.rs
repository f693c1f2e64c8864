//! Registration, password change and logout.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, post};
use axum::{Json, Router};

use crate::cluster::wire::Revocation;
use securechat_crypto::binding::{parse_identity_key, verify_published_key};
use securechat_proto::auth::{
    ChangePasswordRequest, DeleteAccountRequest, Password, RegisterRequest, RegisterResponse,
    RegistrationMode,
};
use securechat_proto::email::Email;
use securechat_proto::keys::KeyStatus;
use securechat_proto::username::Username;
use securechat_store::error::Refusal;
use securechat_store::model::{Credential, EncryptionKeyRow, Gate, NewUser, UserRow};
use securechat_store::security::SecurityKind;
use securechat_store::StoreError;

use crate::auth::client_ip::client_ip;
use crate::auth::extract::AuthUser;
use crate::auth::{codes, common_passwords, ip_rule};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::key_checks::{key_rejection, CLOCK_SKEW_MS};
use crate::http::token::clear_refresh_cookie;
use crate::metrics::{RATE_LIMITED, REGISTRATIONS};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", delete(delete_account))
}

/// How far a client-made UUIDv7's timestamp may be from the server's clock.
const USER_ID_CLOCK_WINDOW_MS: i64 = 24 * 3600 * 1000;

pub(crate) fn check_user_id(id: &uuid::Uuid) -> Result<(), ApiError> {
    if id.get_version_num() != 7 {
        return Err(ApiError::field("user_id", "user_id must be a UUIDv7"));
    }
    let (secs, nanos) = id
        .get_timestamp()
        .map(|t| t.to_unix())
        .ok_or_else(|| ApiError::field("user_id", "user_id must be a UUIDv7"))?;
    let ms = i64::try_from(secs).unwrap_or(i64::MAX / 2) * 1000 + i64::from(nanos / 1_000_000);
    if (ms - now_ms()).abs() > USER_ID_CLOCK_WINDOW_MS {
        return Err(ApiError::field(
            "user_id",
            "user_id's timestamp must be within a day of now",
        ));
    }
    Ok(())
}

/// The rules for a new password: its length, and not one of the most common breached ones.
pub(crate) fn check_new_password(field: &str, password: &Password) -> Result<(), ApiError> {
    password
        .check_policy()
        .map_err(|m| ApiError::field(field, m))?;
    if common_passwords::is_common(&password.0) {
        return Err(ApiError::field(field, common_passwords::REFUSAL));
    }
    Ok(())
}

const REGISTRATION_CLOSED: &str =
    "registration is closed on this server: ask its operator for an account";

/// Refuses at once when nobody may register (the OPAQUE registration's first step).
pub(crate) fn registration_gate_open(state: &AppState) -> Result<(), ApiError> {
    match state.settings().registration {
        RegistrationMode::Closed => {
            Err(ApiError::RegistrationClosed(REGISTRATION_CLOSED.to_owned()))
        }
        RegistrationMode::Open | RegistrationMode::Invite => Ok(()),
    }
}

/// A password sent to a server that takes OPAQUE only.
pub(crate) fn passwords_refused(field: &str) -> ApiError {
    ApiError::field(
        field,
        "this server takes OPAQUE only and never accepts a password: use a current client          (docs/PROTOCOL.md §18)",
    )
}

/// What a new password becomes: checked and hashed (a password), or checked (a record).
pub(crate) async fn new_credential(
    state: &AppState,
    password: Option<&Password>,
    record: Option<&str>,
    password_field: &str,
    record_field: &str,
) -> Result<Credential, ApiError> {
    match (password, record) {
        (Some(password), None) => {
            if !state.settings().password_logins.takes_passwords() {
                return Err(passwords_refused(password_field));
            }
            check_new_password(password_field, password)?;
            let hash = state
                .passwords()
                .hash(&password.0)
                .await
                .map_err(ApiError::internal)?;
            Ok(Credential::Argon2(hash))
        }
        (None, Some(record)) => Ok(Credential::Opaque(crate::http::opaque::record_field(
            record_field,
            record,
        )?)),
        _ => Err(ApiError::field(
            record_field,
            format!("give exactly one of {record_field} and {password_field}"),
        )),
    }
}

/// The registration mode's gate for a request carrying `invite`, refused at once when the
/// answer is known without the database's final word.
async fn gate(state: &AppState, invite: Option<&str>) -> Result<Gate, ApiError> {
    match (state.settings().registration, invite) {
        (RegistrationMode::Closed, _) => {
            Err(ApiError::RegistrationClosed(REGISTRATION_CLOSED.to_owned()))
        }
        (RegistrationMode::Open, _) => Ok(Gate::Open),
        (RegistrationMode::Invite, invite) => {
            // The first account of an empty server needs no code (checked again in the
            // transaction that creates it); the others need one.
            if !state.store().has_accounts().await? {
                return Ok(Gate::FirstAccount);
            }
            match invite {
                Some(code) => Ok(Gate::Invite(codes::hash(code))),
                None => Err(StoreError::Refused(Refusal::NotFirstAccount).into()),
            }
        }
    }
}

/// The IP rule before an account is made: an account the rule would not let log in from
/// this address is not made at all.
async fn check_ip_rule(state: &AppState, ip: IpAddr) -> Result<(), ApiError> {
    let rule = &state.settings().ip_rule;
    let Some(limits) = ip_rule::limits_for(rule, ip) else {
        return Ok(());
    };
    let users = state
        .store()
        .users_signed_in_from(&ip.to_string(), now_ms())
        .await?;
    match limits.judge_users(users.saturating_add(1)) {
        None => Ok(()),
        Some(_) => {
            metrics::counter!(crate::metrics::IP_POLICY_REFUSALS, "rule" => "registration")
                .increment(1);
            tracing::warn!(%ip, users, "registration refused by the IP rule");
            Err(ApiError::IpRefused(format!(
                "registration refused: {users} accounts are signed in from this address, and \
                 this server admits fewer than {} per address (its IP rule), so a new account \
                 could not log in from here. Sign one of them out first, or ask the server's \
                 operator to allow your network",
                rule.refuse_users_per_ip
            )))
        }
    }
}

/// `POST /api/v1/auth/register`: creates an account with its public keys.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = RegisterResponse),
        (status = 403, description = "registration closed or needs an invitation (`registration_closed`), the invitation is not valid (`invite_invalid`), or the IP rule refuses this address (`ip_refused`)", body = securechat_proto::error::ErrorBody),
        (status = 409, description = "username, email, user id or identity key taken", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "invalid field (named in `field`), e.g. a common password", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many registrations from this address or in all; see Retry-After", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %req.user_id))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    check_user_id(&req.user_id.0)?;
    let username =
        Username::parse(&req.username).map_err(|e| ApiError::field("username", e.to_string()))?;
    let email = Email::parse(&req.email).map_err(|e| ApiError::field("email", e.to_string()))?;
    // Checked before anything is counted; the password is hashed only once the request has
    // passed the limits below.
    match (&req.password, &req.opaque_record) {
        (Some(password), None) => {
            if !state.settings().password_logins.takes_passwords() {
                return Err(passwords_refused("password"));
            }
            check_new_password("password", password)?;
        }
        (None, Some(record)) => {
            crate::http::opaque::record_field("opaque_record", record)?;
        }
        _ => {
            return Err(ApiError::field(
                "opaque_record",
                "give exactly one of opaque_record and password",
            ))
        }
    }
    let identity = parse_identity_key(&req.identity_key).map_err(|r| key_rejection("", &r))?;
    let key = verify_published_key(&identity, &req.user_id, &req.encryption_key)
        .map_err(|r| key_rejection("encryption_key.", &r))?;
    if key.created_at > now_ms() + CLOCK_SKEW_MS {
        return Err(ApiError::field(
            "encryption_key.created_at",
            "created_at is in the future",
        ));
    }
    let gate = gate(&state, req.invite.as_deref()).await?;
    // Counted here, before the costly hash: a valid-looking request takes a turn.
    let address = client_ip(peer, &headers, &state.settings().trusted_proxies);
    let ip = address.to_string();
    let (per_ip, global) = state.registration_limits();
    for (limiter, key, scope, kind) in [
        (
            per_ip,
            ip.as_str(),
            "register_ip",
            SecurityKind::RegistrationBlockedIp,
        ),
        (
            global,
            "",
            "register_global",
            SecurityKind::RegistrationBlockedGlobal,
        ),
    ] {
        if let Err(retry_after) = limiter.try_record(key) {
            state.security_event(kind, Some(ip.as_str()), None, Some(username.as_str()));
            metrics::counter!(RATE_LIMITED, "scope" => scope).increment(1);
            tracing::warn!(scope, ip, "registration rate-limited");
            return Err(ApiError::RateLimited { retry_after });
        }
    }
    if let Err(refused) = check_ip_rule(&state, address).await {
        if matches!(refused, ApiError::IpRefused(_)) {
            state.security_event(
                SecurityKind::IpRuleRegistration,
                Some(ip.as_str()),
                None,
                Some(username.as_str()),
            );
        }
        return Err(refused);
    }
    state.registered_from(&ip);
    let credential = new_credential(
        &state,
        req.password.as_ref(),
        req.opaque_record.as_deref(),
        "password",
        "opaque_record",
    )
    .await?;
    state
        .store()
        .create_user(NewUser {
            id: req.user_id,
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            credential,
            identity_key: identity.to_bytes(),
            first_key: EncryptionKeyRow {
                key_id: key.key_id,
                x25519: key.x25519.to_bytes(),
                created_at: key.created_at,
                binding_sig: key.binding_sig,
                status: KeyStatus::Active,
            },
            created_at: now_ms(),
            gate,
        })
        .await?;
    metrics::counter!(REGISTRATIONS).increment(1);
    tracing::info!(username = %username, "account registered");
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            user_id: req.user_id,
            username: username.to_string(),
        }),
    ))
}

/// Checks the signed-in user's password sent in `field` (a password change, an account
/// deletion), counted against the account's failed-password limit; returns the live
/// account. Refused outright on a server that takes OPAQUE only.
pub(crate) async fn confirm_password(
    state: &AppState,
    auth: &AuthUser,
    field: &str,
    password: &Password,
) -> Result<UserRow, ApiError> {
    if !state.settings().password_logins.takes_passwords() {
        return Err(passwords_refused(field));
    }
    let account_key = auth.user_id.to_string();
    state
        .login_guard()
        .account()
        .check(&account_key)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let user = state
        .store()
        .get_user(auth.user_id)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    // An OPAQUE account has no hash: a password sent for it is wrong whatever it is (the
    // dummy verification keeps the time alike). Its owner proves it with OPAQUE instead.
    let ok = state
        .passwords()
        .verify(&password.0, user.credential.argon2_hash())
        .await
        .map_err(ApiError::internal)?;
    if !ok {
        state.password_check_failed(&account_key);
        return Err(ApiError::WrongPassword);
    }
    Ok(user)
}

/// `POST /api/v1/auth/password`: changes the password and signs out every other session.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "accounts",
    request_body = ChangePasswordRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "changed; other sessions revoked"),
        (status = 403, description = "current password wrong", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "new password too short or long", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many wrong passwords", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    if !state.settings().password_logins.takes_passwords() {
        return Err(passwords_refused("new_password"));
    }
    check_new_password("new_password", &req.new_password)?;
    confirm_password(&state, &auth, "current_password", &req.current_password).await?;
    let credential =
        new_credential(&state, Some(&req.new_password), None, "new_password", "").await?;
    let revoked = state
        .store()
        .change_password(auth.user_id, &credential, Some(auth.session_id), now_ms())
        .await?;
    state.revoke_sessions(&revoked, Revocation::PasswordChanged);
    tracing::info!(
        revoked = revoked.len(),
        "password changed; other sessions revoked"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/me`: deletes my account, after checking my password. Every message I
/// sent leaves both sides' histories (peers are told at once), my files go, every session of
/// mine ends; my username stays reserved so that nobody can take it over.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts",
    request_body = DeleteAccountRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted; every session revoked"),
        (status = 403, description = "password wrong", body = securechat_proto::error::ErrorBody),
        (status = 429, description = "too many wrong passwords", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn delete_account(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<DeleteAccountRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = match (&req.password, &req.login_id, &req.credential_finalization) {
        (Some(password), None, None) => {
            confirm_password(&state, &auth, "password", password).await?
        }
        (None, Some(login_id), Some(finalization)) => {
            crate::http::opaque::verify_confirmation(&state, &auth, login_id, finalization, true)
                .await?
        }
        _ => {
            return Err(ApiError::field(
                "password",
                "give either password, or login_id and credential_finalization (from \
                 /api/v1/auth/opaque/confirm)",
            ))
        }
    };
    let removal = state.delete_account(auth.user_id).await?;
    tracing::info!(
        username = %user.username,
        messages = removal.removals.len(),
        sessions = removal.sessions.len(),
        "account deleted at its owner's request"
    );
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_refresh_cookie())],
    ))
}

/// `POST /api/v1/auth/logout`: revokes the caller's session at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "session revoked")))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn logout(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store()
        .revoke_session(auth.session_id, now_ms())
        .await?;
    state.revoke_sessions(&[auth.session_id], Revocation::Logout);
    tracing::info!("logged out");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_refresh_cookie())],
    ))
}
