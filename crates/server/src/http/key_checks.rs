//! Checks shared by registration and key rotation on a published encryption key.

use securechat_crypto::binding::KeyRejection;

use crate::error::ApiError;

/// How far in the future a key's `created_at` may be (client clocks drift).
pub(crate) const CLOCK_SKEW_MS: i64 = 24 * 3600 * 1000;

/// A refused key as a 422 naming the field, under `prefix` (e.g. `encryption_key.`).
pub(crate) fn key_rejection(prefix: &str, rejection: &KeyRejection) -> ApiError {
    ApiError::field(
        &format!("{prefix}{}", rejection.field),
        rejection.error.to_string(),
    )
}
