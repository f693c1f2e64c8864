//! OPAQUE (RFC 9807) requests and answers: registration, login, proving the current
//! password, changing it, and a reset with a code (docs/PROTOCOL.md §18). Every binary
//! value is base64url without padding.

use serde::{Deserialize, Serialize};

use crate::auth::Password;
use crate::ids::UserId;

/// `POST /api/v1/auth/opaque/register/start`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterStartRequest {
    /// The new account's id (a UUIDv7 made by the client, as in the registration).
    pub user_id: UserId,
    /// The blinded password (32 bytes).
    pub registration_request: String,
}

/// The answer of every registration start (register, password, reset).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegistrationStartResponse {
    /// The evaluated element and the server's public key (64 bytes).
    pub registration_response: String,
}

/// `POST /api/v1/auth/opaque/login/start`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginStartRequest {
    /// The username or the email address.
    pub username: String,
    /// KE1 (96 bytes).
    pub credential_request: String,
}

/// `POST /api/v1/auth/opaque/confirm` (signed in).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfirmRequest {
    /// KE1 (96 bytes), made with the current password.
    pub credential_request: String,
}

/// The answer of a login start or a confirm.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginStartResponse {
    /// The sealed state to send back with the finalization (60 seconds).
    pub login_id: String,
    /// KE2 (320 bytes).
    pub credential_response: String,
}

/// `POST /api/v1/auth/opaque/password/start` (signed in).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PasswordStartRequest {
    /// The new password, blinded (32 bytes).
    pub registration_request: String,
    /// The proof of the current password: `login_id` and `credential_finalization` from
    /// `confirm`, or `current_password` for an account that still has a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_finalization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<Password>,
}

/// `POST /api/v1/auth/opaque/password/finish` (signed in): the new record, and a proof of
/// the current password (an OPAQUE one from `confirm`, or the password itself for an
/// account that still has a hash).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PasswordFinishRequest {
    /// The new record (192 bytes).
    pub registration_record: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_finalization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<Password>,
    /// The record is for the same password (an account moving to OPAQUE): the other
    /// sessions stay signed in. Only with `current_password`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upgrade: bool,
}

/// `POST /api/v1/auth/opaque/reset/start`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResetStartRequest {
    /// The one-time reset code.
    pub code: String,
    /// The new password, blinded (32 bytes).
    pub registration_request: String,
}
