//! Accounts and their public keys.

use securechat_proto::ids::UserId;

use crate::model::{EncryptionKeyRow, NewUser, UserListing, UserRow};
use crate::StoreError;

/// Accounts and their append-only key history.
#[async_trait::async_trait]
pub trait Users {
    /// Creates an account with its first (active) encryption key, atomically.
    /// `Conflict` names the taken user id, username, email or identity key.
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;

    /// Finds an account by canonical username or canonical email.
    async fn find_user_by_login(&self, login: &str) -> Result<Option<UserRow>, StoreError>;

    /// Finds an account by id.
    async fn get_user(&self, id: UserId) -> Result<Option<UserRow>, StoreError>;

    /// Every account, ordered by username.
    async fn list_users(&self) -> Result<Vec<UserListing>, StoreError>;

    /// Replaces the password hash.
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError>;

    /// A user's encryption keys, oldest first.
    async fn list_keys(&self, id: UserId) -> Result<Vec<EncryptionKeyRow>, StoreError>;

    /// Publishes a new active key and retires the previous ones, atomically; keys are never
    /// deleted. `Conflict(EncryptionKey)` when this key id is already published.
    async fn add_key(&self, id: UserId, key: EncryptionKeyRow) -> Result<(), StoreError>;
}
