//! `POST /api/v1/auth/token`: the OAuth2-shaped token endpoint (password and refresh grants).

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::cluster::wire::Revocation;
use securechat_opaque::sizes;
use securechat_proto::auth::{
    OAuthErrorBody, PasswordLogins, TokenRequest, TokenResponse, OPAQUE_GRANT,
};
use securechat_proto::b64;
use securechat_proto::email::Email;
use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::username::Username;
use securechat_store::error::{Conflict, Refusal};
use securechat_store::model::{NewSession, RefreshOutcome, UserRow};
use securechat_store::security::SecurityKind;
use securechat_store::StoreError;
use uuid::Uuid;

use crate::auth::client_ip::client_ip;
use crate::auth::ip_rule;
use crate::auth::login_guard::{known_source_ms, Attempt, Scope};
use crate::auth::opaque::{record_digest, Purpose};
use crate::auth::origin::{cookie_request_allowed, refusal};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::clock::now_ms;
use crate::error::BoxError;
use crate::metrics::{IP_POLICY_REFUSALS, LOGINS, RATE_LIMITED, REFRESH_REUSE};
use crate::state::AppState;

/// Name of the browser's refresh-token cookie (`__Host-`: Secure, no Domain, Path=/).
pub const REFRESH_COOKIE: &str = "__Host-securechat_refresh";

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/auth/token", post(token))
}

/// A refused token request, in the RFC 6749 §5.2 shape.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("grant_type must be password, refresh_token or urn:securechat:grant-type:opaque")]
    UnsupportedGrantType,
    #[error(
        "this server takes OPAQUE logins only and never accepts a password: use a current client"
    )]
    PasswordsRefused,
    #[error("{0}")]
    IpPolicy(String),
    #[error("too many failed logins; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("this account is disabled; ask the server's operator")]
    AccountDisabled,
    #[error("a refresh by cookie must come from this site (Origin or Sec-Fetch-Site)")]
    ForeignOrigin,
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl TokenError {
    fn internal(e: impl Into<BoxError>) -> Self {
        Self::Internal(e.into())
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidGrant(_) => (StatusCode::BAD_REQUEST, "invalid_grant"),
            Self::UnsupportedGrantType | Self::PasswordsRefused => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type")
            }
            Self::IpPolicy(_) => (StatusCode::FORBIDDEN, "ip_policy"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled"),
            Self::ForeignOrigin => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, cause = ?std::error::Error::source(detail.as_ref()), "token request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
            }
        };
        let body = OAuthErrorBody {
            error: code.to_owned(),
            error_description: self.to_string(),
        };
        let mut response = (status, no_store(), Json(body)).into_response();
        if let Self::RateLimited { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

fn refresh_cookie(token: &str, max_age: u64) -> String {
    format!(
        "{REFRESH_COOKIE}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    )
}

/// A `Set-Cookie` value that deletes the refresh cookie.
pub fn clear_refresh_cookie() -> String {
    refresh_cookie("", 0)
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

fn parse_request(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, TokenError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|e| TokenError::InvalidRequest(e.to_string()))
    } else if mime.eq_ignore_ascii_case("application/json") {
        serde_json::from_slice(body).map_err(|e| TokenError::InvalidRequest(e.to_string()))
    } else {
        Err(TokenError::InvalidRequest(
            "Content-Type must be application/x-www-form-urlencoded or application/json".to_owned(),
        ))
    }
}

/// `POST /api/v1/auth/token`: `grant_type=password` (username or email, password) or
/// `grant_type=refresh_token`.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "accounts",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, unsupported_grant_type", body = OAuthErrorBody),
        (status = 403, description = "ip_policy: refused by the IP rule; account_disabled: an operator disabled the account", body = OAuthErrorBody),
        (status = 429, description = "rate_limited", body = OAuthErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, TokenError> {
    let body = body.map_err(|e| TokenError::InvalidRequest(e.body_text()))?;
    let req = parse_request(&headers, &body)?;
    match req.grant_type.as_str() {
        "password" => password_grant(&state, peer, &headers, req).await,
        "refresh_token" => refresh_grant(&state, &headers, req).await,
        OPAQUE_GRANT => opaque_grant(&state, peer, &headers, req).await,
        _ => Err(TokenError::UnsupportedGrantType),
    }
}

/// Canonical form of what the user typed as login: an email (lower case) or a username.
pub fn canonical_login(login: &str) -> Option<String> {
    let login = login.trim();
    if login.contains('@') {
        Some(login.to_lowercase())
    } else {
        Username::parse(login).ok().map(String::from)
    }
}

#[tracing::instrument(skip_all, fields(ip = tracing::field::Empty, user.id = tracing::field::Empty))]
async fn password_grant(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    req: TokenRequest,
) -> Result<Response, TokenError> {
    if !state.settings().password_logins.takes_passwords() {
        return Err(TokenError::PasswordsRefused);
    }
    let (Some(login), Some(password)) = (req.username.as_deref(), req.password.as_ref()) else {
        return Err(TokenError::InvalidRequest(
            "username and password are required".to_owned(),
        ));
    };
    let counted = match LoginAttempt::admit(state, peer, headers, login).await? {
        Ok(counted) => counted,
        Err(retry_after) => return Err(TokenError::RateLimited { retry_after }),
    };
    let (user, attempt, known_source) = (&counted.user, counted.attempt(), counted.known_source);
    let now = now_ms();
    let ok = state
        .passwords()
        .verify(
            &password.0,
            user.as_ref().and_then(|u| u.credential.argon2_hash()),
        )
        .await
        .map_err(TokenError::internal)?;
    let Some(user) = user.as_ref().filter(|_| ok) else {
        state.login_failed(&attempt);
        metrics::counter!(LOGINS, "outcome" => "invalid_credentials").increment(1);
        tracing::info!(known_source, "login failed: wrong username or password");
        return Err(TokenError::InvalidGrant("wrong username or password"));
    };
    tracing::Span::current().record("user.id", tracing::field::display(user.id));
    state.login_succeeded(&attempt);

    let upgrade = state.settings().password_logins == PasswordLogins::Migrate;
    open_session(
        state,
        SessionId::generate(),
        user.id,
        counted.ip,
        now,
        req.refresh_cookie.unwrap_or(false),
        upgrade,
    )
    .await
}

/// `grant_type=urn:securechat:grant-type:opaque`: finishes an OPAQUE login started at
/// `POST /api/v1/auth/opaque/login/start` (docs/PROTOCOL.md §18.3).
#[tracing::instrument(skip_all, fields(ip = tracing::field::Empty, user.id = tracing::field::Empty))]
async fn opaque_grant(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    req: TokenRequest,
) -> Result<Response, TokenError> {
    let (Some(login_id), Some(finalization)) = (
        req.login_id.as_deref(),
        req.credential_finalization.as_deref(),
    ) else {
        return Err(TokenError::InvalidRequest(
            "login_id and credential_finalization are required".to_owned(),
        ));
    };
    let finalization = b64::decode(finalization)
        .ok()
        .filter(|f| f.len() == sizes::CREDENTIAL_FINALIZATION)
        .ok_or_else(|| {
            TokenError::InvalidRequest(
                "credential_finalization must be 64 bytes in base64url".to_owned(),
            )
        })?;
    let ip = client_ip(peer, headers, &state.settings().trusted_proxies);
    tracing::Span::current().record("ip", tracing::field::display(ip));
    let now = now_ms();
    let pending =
        state
            .opaque()
            .open(login_id, Purpose::Login, now)
            .ok_or(TokenError::InvalidGrant(
                "the login expired or is not valid; log in again",
            ))?;
    let verified = securechat_opaque::server::login_finish(&pending.state, &finalization).is_ok();
    let user = match pending.user {
        Some(id) if verified => state.store().get_user(id).await?,
        _ => None,
    };
    // The record the login was started against must still be the account's.
    let Some(user) = user.filter(|u| {
        u.deleted_at.is_none()
            && record_digest(u.credential.opaque_record()) == pending.record_digest
    }) else {
        metrics::counter!(LOGINS, "outcome" => "invalid_credentials").increment(1);
        tracing::info!("OPAQUE login failed: the finalization does not verify");
        return Err(TokenError::InvalidGrant("wrong username or password"));
    };
    tracing::Span::current().record("user.id", tracing::field::display(user.id));
    let response = match open_session(
        state,
        pending.session,
        user.id,
        ip,
        now,
        req.refresh_cookie.unwrap_or(false),
        false,
    )
    .await
    {
        Ok(response) => response,
        Err(refused @ (TokenError::IpPolicy(_) | TokenError::AccountDisabled)) => {
            // The right password, refused all the same: not a guess, so the account's own
            // counts are taken back (on the other nodes too); the address's and the server's
            // stay. Nothing was stored, so the same finish may come again: it takes nothing
            // more back here.
            let attempt = Attempt {
                ip: &pending.ip,
                account: &pending.account,
                known_source: pending.known_source,
            };
            state.refused_finish(pending.session, &attempt);
            return Err(refused);
        }
        Err(e) => return Err(e),
    };
    // The start counted it as a failure; it was not one. Only here, after its session was
    // stored under the id the start chose: a replayed finish stops at that id, and can take
    // nothing back.
    state.login_forgiven(&Attempt {
        ip: &pending.ip,
        account: &pending.account,
        known_source: pending.known_source,
    });
    Ok(response)
}

/// A new session for a user whose password was just proved: the IP rule, then the tokens.
/// `opaque_upgrade`: the answer asks the client to move the account to OPAQUE.
async fn open_session(
    state: &AppState,
    session: SessionId,
    user: UserId,
    ip: IpAddr,
    now: i64,
    refresh_cookie: bool,
    opaque_upgrade: bool,
) -> Result<Response, TokenError> {
    let ip_key = ip.to_string();
    let limits = &state.settings().login_limits;
    let (refresh, refresh_hash) = new_refresh_token();
    let rule = &state.settings().ip_rule;
    let admission = state
        .store()
        .create_session(
            NewSession {
                id: session,
                user_id: user,
                ip: ip_key.clone(),
                created_at: now,
                expires_at: now + ttl_ms(state),
                refresh_hash,
                forget_sources_before: now - known_source_ms(limits),
            },
            ip_rule::limits_for(rule, ip),
        )
        .await
        .map_err(|e| match e {
            // The account was deleted while its password was being checked.
            StoreError::NotFound => TokenError::InvalidGrant("wrong username or password"),
            StoreError::Conflict(Conflict::Session) => {
                tracing::warn!(target: "securechat::security", "an OPAQUE login's finish was replayed");
                TokenError::InvalidGrant("this login was finished already; log in again")
            }
            StoreError::Refused(Refusal::AccountDisabled) => {
                metrics::counter!(LOGINS, "outcome" => "disabled").increment(1);
                tracing::info!("login refused: the account is disabled");
                TokenError::AccountDisabled
            }
            e => e.into(),
        })?;
    if let Some(label) = ip_rule::label(admission) {
        state.security_event(
            SecurityKind::IpRuleLogin,
            Some(ip_key.as_str()),
            Some(user),
            None,
        );
        metrics::counter!(IP_POLICY_REFUSALS, "rule" => label).increment(1);
        metrics::counter!(LOGINS, "outcome" => "ip_policy").increment(1);
        tracing::warn!(rule = label, "login refused by the IP rule");
        return Err(TokenError::IpPolicy(ip_rule::describe(admission, rule)));
    }
    metrics::counter!(LOGINS, "outcome" => "success").increment(1);
    tracing::info!(session = %session, "logged in");
    token_response(
        state,
        user,
        session,
        refresh,
        TokenAnswer {
            as_cookie: refresh_cookie,
            opaque_upgrade,
        },
    )
}

/// A login's first look: who it names, from where, and how its failure counts; admitted by
/// the failed-login limits (the password grant and the OPAQUE start share it).
pub(crate) struct LoginAttempt {
    pub ip: IpAddr,
    pub ip_key: String,
    /// The canonical login (`None`: neither a username nor an address).
    pub login: Option<String>,
    /// What was typed, trimmed and in lower case.
    pub typed: String,
    pub user: Option<UserRow>,
    /// Failures count per account when it exists, else per name typed.
    pub account_key: String,
    pub known_source: bool,
}

impl LoginAttempt {
    /// Looks the login up and checks the limits: `Ok(Err(retry_after))` when one refuses it
    /// (recorded in the security log and the metrics).
    pub(crate) async fn admit(
        state: &AppState,
        peer: SocketAddr,
        headers: &HeaderMap,
        typed_login: &str,
    ) -> Result<Result<Self, u64>, StoreError> {
        let ip = client_ip(peer, headers, &state.settings().trusted_proxies);
        tracing::Span::current().record("ip", tracing::field::display(ip));
        let ip_key = ip.to_string();
        let typed = typed_login.trim().to_lowercase();
        let login = canonical_login(typed_login);
        let user = match &login {
            Some(login) => state.store().find_user_by_login(login).await?,
            None => None,
        };
        let account_key = user
            .as_ref()
            .map(|u| u.id.to_string())
            .or_else(|| login.clone())
            .unwrap_or_else(|| typed.clone());
        let limits = &state.settings().login_limits;
        // Asked for unknown accounts too (of the nil id), so both cost the same.
        let known_source = state
            .store()
            .is_known_source(
                user.as_ref().map_or(UserId(Uuid::nil()), |u| u.id),
                &ip_key,
                now_ms() - known_source_ms(limits),
            )
            .await?;
        let admitted = Self {
            ip,
            ip_key,
            login,
            typed,
            user,
            account_key,
            known_source,
        };
        if let Err((scope, retry_after)) = state.login_guard().check(&admitted.attempt()) {
            state.security_event(
                blocked_kind(scope),
                Some(admitted.ip_key.as_str()),
                admitted.user.as_ref().map(|u| u.id),
                recorded_name(admitted.login.as_deref(), admitted.user.is_some()),
            );
            let scope = scope.label();
            metrics::counter!(RATE_LIMITED, "scope" => scope).increment(1);
            metrics::counter!(LOGINS, "outcome" => "rate_limited").increment(1);
            tracing::warn!(scope, known_source, "login rate-limited");
            return Ok(Err(retry_after));
        }
        Ok(Ok(admitted))
    }

    /// The attempt as the limits count it.
    pub(crate) fn attempt(&self) -> Attempt<'_> {
        Attempt {
            ip: &self.ip_key,
            account: &self.account_key,
            known_source: self.known_source,
        }
    }
}

/// The name a refused login is recorded under when it names no account: only one shaped
/// like a username or an address (not, say, a password typed into the wrong field).
pub(crate) fn recorded_name(login: Option<&str>, found: bool) -> Option<&str> {
    login.filter(|l| !found && (!l.contains('@') || Email::parse(l).is_ok()))
}

/// The security event of a login refused by a limit.
pub(crate) fn blocked_kind(scope: Scope) -> SecurityKind {
    match scope {
        Scope::Ip => SecurityKind::LoginBlockedIp,
        Scope::Source => SecurityKind::LoginBlockedSource,
        Scope::Account => SecurityKind::LoginBlockedAccount,
        Scope::Global => SecurityKind::LoginBlockedGlobal,
    }
}

fn ttl_ms(state: &AppState) -> i64 {
    i64::try_from(state.settings().refresh_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

#[tracing::instrument(skip_all, fields(user.id = tracing::field::Empty))]
async fn refresh_grant(
    state: &AppState,
    headers: &HeaderMap,
    req: TokenRequest,
) -> Result<Response, TokenError> {
    let from_cookie = req.refresh_token.is_none();
    let presented = req
        .refresh_token
        .as_deref()
        .or_else(|| cookie_value(headers, REFRESH_COOKIE))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::InvalidRequest("refresh_token is required".to_owned()))?;
    // The browser attaches the cookie by itself, to any request to this server: only this
    // site's own pages may use it.
    if from_cookie && !cookie_request_allowed(headers, &state.settings().realtime.allowed_origins) {
        tracing::warn!(
            target: "securechat::security",
            "refresh by cookie refused: {}",
            refusal(headers, &state.settings().realtime.allowed_origins)
        );
        return Err(TokenError::ForeignOrigin);
    }
    let (refresh, new_hash) = state
        .tokens()
        .refresh_successor(presented)
        .map_err(TokenError::internal)?;
    let now = now_ms();
    let grace_ms = i64::try_from(state.settings().refresh_grace.as_millis()).unwrap_or(0);
    let outcome = state
        .store()
        .rotate_refresh(
            hash_refresh_token(presented),
            new_hash,
            now,
            now + ttl_ms(state),
            grace_ms,
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated { session, user } => {
            tracing::Span::current().record("user.id", tracing::field::display(user));
            token_response(
                state,
                user,
                session,
                refresh,
                TokenAnswer {
                    as_cookie: from_cookie || req.refresh_cookie.unwrap_or(false),
                    opaque_upgrade: false,
                },
            )
        }
        RefreshOutcome::Reused { session, user } => {
            state.revoke_sessions(&[session], Revocation::RefreshReuse);
            metrics::counter!(REFRESH_REUSE).increment(1);
            tracing::warn!(
                target: "securechat::security",
                user = %user,
                session = %session,
                "refresh token reused after rotation: session revoked"
            );
            Err(TokenError::InvalidGrant(
                "refresh token was already used; the session is revoked",
            ))
        }
        RefreshOutcome::Invalid => Err(TokenError::InvalidGrant(
            "refresh token is invalid, expired or revoked",
        )),
    }
}

/// How a token answer is given.
struct TokenAnswer {
    /// The refresh token as a cookie (browsers), not in the body.
    as_cookie: bool,
    /// Ask the client to move the account to OPAQUE.
    opaque_upgrade: bool,
}

fn token_response(
    state: &AppState,
    user: UserId,
    session: SessionId,
    refresh: String,
    TokenAnswer {
        as_cookie,
        opaque_upgrade,
    }: TokenAnswer,
) -> Result<Response, TokenError> {
    let now_secs = now_ms() / 1000;
    let refresh_ttl = state.settings().refresh_ttl.as_secs();
    let access_token = state
        .tokens()
        .issue(user, session, now_secs)
        .map_err(TokenError::internal)?;
    let body = TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: state.tokens().access_ttl_secs(),
        refresh_token: (!as_cookie).then(|| refresh.clone()),
        refresh_expires_in: refresh_ttl,
        user_id: user,
        opaque_upgrade,
    };
    let mut response = (StatusCode::OK, no_store(), Json(body)).into_response();
    if as_cookie {
        if let Ok(value) = HeaderValue::from_str(&refresh_cookie(&refresh, refresh_ttl)) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}
