//! Accounts and the OAuth2-shaped token endpoint.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ids::UserId;
use crate::keys::NewEncryptionKey;

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Longest accepted password, in bytes (bounds the work of hashing).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// A password as typed by the user. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = Password)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Checks the length rules; returns the reason when they fail.
    pub fn check_policy(&self) -> Result<(), &'static str> {
        if self.0.chars().count() < PASSWORD_MIN_CHARS {
            return Err("password must be at least 10 characters long");
        }
        if self.0.len() > PASSWORD_MAX_BYTES {
            return Err("password must be at most 1024 bytes long");
        }
        Ok(())
    }
}

/// `POST /api/v1/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    /// The new account's id, a UUIDv7 made by the client: the encryption key's binding signature
    /// covers it, so it must exist before the server sees the request (docs/PROTOCOL.md).
    pub user_id: UserId,
    pub username: String,
    pub email: String,
    pub password: Password,
    /// The Ed25519 identity public key, base64url (32 bytes).
    pub identity_key: String,
    pub encryption_key: NewEncryptionKey,
    /// An invitation code, when the server registers by invitation (`GET /api/v1/server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// Answer to a successful registration (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterResponse {
    pub user_id: UserId,
    pub username: String,
}

/// `POST /api/v1/auth/token`, form-encoded or JSON (RFC 6749 §4.3 and §6).
#[derive(Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `password` or `refresh_token`.
    pub grant_type: String,
    /// With `password`: the username or the email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    /// With `refresh_token`; may be left out when the refresh cookie is sent instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When true, the refresh token is set as an HttpOnly `__Host-` cookie instead of being
    /// returned in the body (for browsers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_cookie: Option<bool>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("username", &self.username)
            .field("refresh_cookie", &self.refresh_cookie)
            .finish_non_exhaustive()
    }
}

/// Successful token response (RFC 6749 §5.1), plus the caller's `user_id`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Absent when the refresh token was set as a cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
    pub user_id: UserId,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Error response of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `ip_policy`,
    /// `rate_limited` or `server_error`.
    pub error: String,
    pub error_description: String,
}

/// `POST /api/v1/auth/password`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: Password,
    pub new_password: Password,
}

/// `POST /api/v1/auth/password/reset`: a one-time reset code and the new password.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResetPasswordRequest {
    /// The code an operator made (`securechat admin reset-password`).
    pub code: String,
    pub new_password: Password,
}

/// `DELETE /api/v1/me`: deleting my account needs my password.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeleteAccountRequest {
    pub password: Password,
}

/// Who may register on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Anyone who can reach the server.
    Open,
    /// With an invitation code only (the first account of an empty server needs none).
    Invite,
    /// Nobody (accounts exist already, or are made another way).
    Closed,
}

impl RegistrationMode {
    /// The spelling used on the wire, on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Invite => "invite",
            Self::Closed => "closed",
        }
    }
}

impl std::str::FromStr for RegistrationMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Self::Open),
            "invite" => Ok(Self::Invite),
            "closed" => Ok(Self::Closed),
            other => Err(format!(
                "unknown registration mode {other:?} (expected open, invite or closed)"
            )),
        }
    }
}

/// `GET /api/v1/server`: what a client needs to know before an account exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServerInfo {
    /// The server's version.
    pub version: String,
    pub registration: RegistrationMode,
    /// True while no account exists: in `invite` mode the first account needs no code.
    pub first_account: bool,
    /// "Forgot password" can mail a reset link (`POST /api/v1/auth/password/forgot`);
    /// otherwise an operator makes reset codes.
    pub password_reset_email: bool,
}

/// `POST /api/v1/auth/password/forgot`: mail me a reset link.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForgotPasswordRequest {
    /// Username or email address.
    pub login: String,
}
