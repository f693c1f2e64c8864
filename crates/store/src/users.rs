//! Accounts and their public keys.

use securechat_proto::ids::{SessionId, UserId};

use crate::model::{Credential, EncryptionKeyRow, NewUser, UserListing, UserRow};
use crate::StoreError;

/// Accounts and their append-only key history.
#[async_trait::async_trait]
pub trait Users {
    /// Creates an account with its first (active) encryption key (and its empty stream), in
    /// one transaction. `Conflict` names the taken user id, username, email or identity key;
    /// nothing is stored then.
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;

    /// Finds an account by canonical username or canonical email.
    async fn find_user_by_login(&self, login: &str) -> Result<Option<UserRow>, StoreError>;

    /// Finds an account by id.
    async fn get_user(&self, id: UserId) -> Result<Option<UserRow>, StoreError>;

    /// Every account, ordered by username.
    async fn list_users(&self) -> Result<Vec<UserListing>, StoreError>;

    /// Replaces the credential (a hash or an OPAQUE record, whichever the account had),
    /// revokes every active session of the user except `keep`
    /// and uses up the user's unused reset codes, in one transaction; returns the revoked
    /// sessions. `NotFound` when there is no
    /// such account.
    async fn change_password(
        &self,
        id: UserId,
        credential: &Credential,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Moves an account from its Argon2 hash to an OPAQUE record made from the same
    /// password (no session is revoked): only if the account is live and its hash is still
    /// `expected_hash` (no concurrent change or move). Returns whether it moved.
    async fn upgrade_to_opaque(
        &self,
        id: UserId,
        expected_hash: &str,
        record: &[u8],
    ) -> Result<bool, StoreError>;

    /// A user's encryption keys, oldest first.
    async fn list_keys(&self, id: UserId) -> Result<Vec<EncryptionKeyRow>, StoreError>;

    /// Publishes a new active key and retires the previous ones, in one transaction; keys are
    /// never deleted. `Conflict(EncryptionKey)` when this key id is already published;
    /// `Conflict(KeyOrder)` when a published key is as new or newer (`created_at`). Of two
    /// concurrent publishes for one user, each sees the other's effect or fails.
    async fn add_key(&self, id: UserId, key: EncryptionKeyRow) -> Result<(), StoreError>;
}
