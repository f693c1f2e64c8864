//! Public key records: an Ed25519 identity key per user and X25519 encryption keys bound to it.
//! All binary values are base64url without padding; `created_at` is Unix milliseconds.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// An encryption key as its owner publishes it (registration and `POST /api/v1/me/keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewEncryptionKey {
    /// `b64u(SHA-256(x25519)[0..8])`.
    pub key_id: String,
    /// The X25519 public key, 32 bytes.
    pub x25519: String,
    /// Creation time, Unix milliseconds; covered by the binding signature.
    pub created_at: i64,
    /// Ed25519 signature by the identity key over the binding (docs/PROTOCOL.md).
    pub binding_sig: String,
}

/// Whether a key is the one senders should encrypt to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// The newest key: encrypt new messages to it.
    Active,
    /// Superseded by a newer key; kept so old messages still open and verify.
    Retired,
}

impl KeyStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
}

/// A published encryption key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EncryptionKeyRecord {
    pub key_id: String,
    pub x25519: String,
    pub created_at: i64,
    pub status: KeyStatus,
    pub binding_sig: String,
}

impl EncryptionKeyRecord {
    /// The record as its owner published it (what the binding signature covers).
    pub fn published(&self) -> NewEncryptionKey {
        NewEncryptionKey {
            key_id: self.key_id.clone(),
            x25519: self.x25519.clone(),
            created_at: self.created_at,
            binding_sig: self.binding_sig.clone(),
        }
    }
}

/// `GET /api/v1/users/{id}/keys`: a user's identity key and full encryption-key history, oldest
/// first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserKeys {
    pub user_id: UserId,
    pub username: String,
    /// The Ed25519 identity key, 32 bytes.
    pub identity_key: String,
    pub encryption_keys: Vec<EncryptionKeyRecord>,
}
