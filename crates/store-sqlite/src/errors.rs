//! The one place where sqlx errors become `StoreError`.

use securechat_store::error::Conflict;
use securechat_store::StoreError;

/// Maps a sqlx error: missing rows to `NotFound`, unique violations to the `Conflict` they
/// name, everything else to `Other`.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            // SQLite reports "UNIQUE constraint failed: users.email".
            let message = db.message();
            let conflict = if message.contains("users.username") {
                Conflict::Username
            } else if message.contains("users.email") {
                Conflict::Email
            } else if message.contains("users.identity_key") {
                Conflict::IdentityKey
            } else if message.contains("encryption_keys") {
                Conflict::EncryptionKey
            } else {
                Conflict::UserId
            };
            StoreError::Conflict(conflict)
        }
        _ => StoreError::Other(Box::new(error)),
    }
}
