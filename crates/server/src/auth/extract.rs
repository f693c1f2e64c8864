//! The `AuthUser` extractor: a valid Bearer access token whose session is still active.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use securechat_proto::ids::{SessionId, UserId};

use crate::auth::tokens::TokenError;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// When the access token expires, Unix seconds.
    pub expires_at: i64,
}

/// Extracts the token of an `Authorization: Bearer …` header.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl AuthUser {
    /// Verifies an access token and that its session is active (cache, then store).
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let claims = state.tokens().verify(token).map_err(|e| match e {
            TokenError::Expired => ApiError::Unauthorized("the access token has expired"),
            TokenError::Invalid => ApiError::Unauthorized("the access token is invalid"),
        })?;
        if !state.sessions().is_fresh(claims.sid) {
            let session = state.store().get_session(claims.sid).await?;
            match session {
                Some(s) if s.is_active(now_ms()) && s.user_id == claims.sub => {
                    state.sessions().remember(claims.sid, claims.sub);
                }
                _ => return Err(ApiError::Unauthorized("the session has ended")),
            }
        }
        Ok(Self {
            user_id: claims.sub,
            session_id: claims.sid,
            expires_at: claims.exp,
        })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::MissingToken)?;
        Self::from_token(state, token).await
    }
}
