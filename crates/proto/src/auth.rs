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
    /// The password, for a password account (not allowed when the server takes OPAQUE
    /// only). Leave it out and send `opaque_record` instead (docs/PROTOCOL.md §18.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    /// The OPAQUE registration record (base64url, 192 bytes), made after
    /// `POST /api/v1/auth/opaque/register/start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opaque_record: Option<String>,
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
    /// `password`, `refresh_token` or [`OPAQUE_GRANT`].
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
    /// With [`OPAQUE_GRANT`]: the `login_id` of `POST /api/v1/auth/opaque/login/start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    /// With [`OPAQUE_GRANT`]: the client's finalization (KE3, base64url, 64 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_finalization: Option<String>,
}

/// The token endpoint's extension grant (RFC 6749 §4.5) finishing an OPAQUE login.
pub const OPAQUE_GRANT: &str = "urn:securechat:grant-type:opaque";

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
    /// True after a password grant for an account that has no OPAQUE record yet, on a
    /// server that moves accounts over (`password_logins` = `migrate`): the client should
    /// re-register the same password with OPAQUE at once (docs/PROTOCOL.md §18.6).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opaque_upgrade: bool,
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
    /// The new password, on a server that still takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_password: Option<Password>,
    /// Or the new OPAQUE record (after `POST /api/v1/auth/opaque/reset/start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_record: Option<String>,
}

/// `DELETE /api/v1/me`: deleting my account needs my password.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeleteAccountRequest {
    /// For an account with a password hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    /// For an OPAQUE account: a proof from `POST /api/v1/auth/opaque/confirm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_finalization: Option<String>,
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
    /// Whether passwords may still be sent to the server (docs/PROTOCOL.md §18.6).
    #[serde(default)]
    pub password_logins: PasswordLogins,
}

/// What the server does with accounts made with a password, now that OPAQUE exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PasswordLogins {
    /// Password logins, registrations and resets still work for such accounts; they stay as
    /// they are until their users change their password with an OPAQUE client.
    Legacy,
    /// As `Legacy`, and a successful password login moves the account to OPAQUE.
    #[default]
    Migrate,
    /// OPAQUE only: the server never takes a password.
    Opaque,
}

impl PasswordLogins {
    /// The spelling used on the wire, on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Migrate => "migrate",
            Self::Opaque => "opaque",
        }
    }

    /// Whether the server takes passwords (the password grant, registration, change, reset).
    pub fn takes_passwords(self) -> bool {
        self != Self::Opaque
    }
}

impl std::str::FromStr for PasswordLogins {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(Self::Legacy),
            "migrate" => Ok(Self::Migrate),
            "opaque" => Ok(Self::Opaque),
            other => Err(format!(
                "unknown password_logins {other:?} (expected legacy, migrate or opaque)"
            )),
        }
    }
}

/// `POST /api/v1/auth/password/forgot`: mail me a reset link.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForgotPasswordRequest {
    /// Username or email address.
    pub login: String,
}
