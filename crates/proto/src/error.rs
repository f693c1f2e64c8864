//! The error body of every REST endpoint except the OAuth2 token endpoint (see `auth`).

use serde::{Deserialize, Serialize};

/// Machine-readable error codes. New codes may be added within `/api/v1`; a client reads a
/// code it does not know as `unknown` and shows the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not well-formed JSON (a missing or mistyped field is `invalid_field`).
    MalformedBody,
    /// The body has a content type this endpoint does not accept.
    UnsupportedMediaType,
    /// A field has an invalid value; `field` names it.
    InvalidField,
    /// The username is already registered.
    UsernameTaken,
    /// The email address is already registered.
    EmailTaken,
    /// The user id or identity key is already registered.
    AccountConflict,
    /// The encryption key is already published.
    KeyConflict,
    /// No valid access token (missing, malformed, expired or revoked).
    Unauthorized,
    /// The current password given is wrong.
    WrongPassword,
    /// Not allowed here (e.g. a WebSocket from a foreign Origin).
    Forbidden,
    /// No such resource, or not visible to the caller.
    NotFound,
    /// The path exists, but not with this method.
    MethodNotAllowed,
    /// Too many attempts; retry after the `Retry-After` header's seconds.
    RateLimited,
    /// The request body is larger than this endpoint accepts.
    PayloadTooLarge,
    /// The server failed; details are in its log under the request id.
    Internal,
    /// The server is not ready (database unreachable).
    Unavailable,
    /// Registration is closed, or needs an invitation this request did not carry.
    RegistrationClosed,
    /// The invitation code is unknown, used or expired (the message says which).
    InviteInvalid,
    /// The IP rule refuses this address (the message says why).
    IpRefused,
    /// The password-reset code is unknown, used or expired (the message says which).
    ResetCodeInvalid,
    /// A group change does not extend the group's last change: another change came first.
    /// Fetch the chain, verify it, and make the change again on the new head.
    GroupConflict,
    /// A group change breaks the chain's rules, or its signature does not verify (the message
    /// says which rule); nothing was stored.
    InvalidGroupChange,
    /// A code this client does not know (added by a newer server); treat as an error.
    #[serde(other)]
    Unknown,
}

/// `{"error": code, "message": text, "field": name?}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
    /// The offending request field, for `invalid_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
