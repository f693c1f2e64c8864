//! Records as stored. These are the store's domain types, distinct from the wire types.

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::keys::KeyStatus;

/// An encryption key as stored (decoded bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionKeyRow {
    pub key_id: [u8; 8],
    pub x25519: [u8; 32],
    pub created_at: i64,
    pub binding_sig: [u8; 64],
    pub status: KeyStatus,
}

/// A new account, fully validated by the server.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    /// Canonical username (NFKC, lower case).
    pub username: String,
    /// Canonical email (lower case).
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub identity_key: [u8; 32],
    pub first_key: EncryptionKeyRow,
    pub created_at: i64,
}

/// A stored account.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub identity_key: [u8; 32],
    pub created_at: i64,
}

/// A user's id and name, for the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserListing {
    pub id: UserId,
    pub username: String,
}

/// A new login session with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    /// The client's IP address as text (canonical `IpAddr` form).
    pub ip: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// SHA-256 of the refresh token; the token itself is never stored.
    pub refresh_hash: [u8; 32],
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub ip: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl SessionRow {
    /// Not revoked and not expired at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now rotated and the new one is stored.
    Rotated { session: SessionId, user: UserId },
    /// The token had already been rotated: the whole session is now revoked.
    Reused { session: SessionId, user: UserId },
    /// Unknown token, or its session is revoked or expired.
    Invalid,
}
