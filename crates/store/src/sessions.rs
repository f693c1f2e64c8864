//! Login sessions and their rotating refresh tokens.

use securechat_proto::ids::{SessionId, UserId};

use crate::model::{NewSession, RefreshOutcome, SessionRow};
use crate::StoreError;

/// Login sessions. A session is active while not revoked and not expired.
#[async_trait::async_trait]
pub trait Sessions {
    /// Stores a new session and its first refresh token, and notes its address as a known
    /// login source of the user (forgetting the user's sources last seen before
    /// `forget_sources_before`), in one transaction.
    async fn create_session(&self, session: NewSession) -> Result<(), StoreError>;

    /// Reads a session (active or not).
    async fn get_session(&self, id: SessionId) -> Result<Option<SessionRow>, StoreError>;

    /// Distinct IPs of a user's active sessions.
    async fn active_ips_of_user(&self, user: UserId, now: i64) -> Result<Vec<String>, StoreError>;

    /// Distinct users with active sessions from an IP.
    async fn active_users_of_ip(&self, ip: &str, now: i64) -> Result<Vec<UserId>, StoreError>;

    /// Presents a refresh token (by hash). A current token is rotated to `new_hash` (kept as
    /// its successor) and the session's expiry moves to `new_expires_at`. A token rotated at
    /// less than `grace_ms` ago, whose successor is `new_hash` and not itself rotated yet, is
    /// answered `Rotated` again and changes nothing (concurrent refreshes with one token: the
    /// caller derives the same successor). Any other rotated token revokes the session.
    async fn rotate_refresh(
        &self,
        presented: [u8; 32],
        new_hash: [u8; 32],
        now: i64,
        new_expires_at: i64,
        grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError>;

    /// Whether `user` logged in from `ip` at or after `since`.
    async fn is_known_source(&self, user: UserId, ip: &str, since: i64)
        -> Result<bool, StoreError>;

    /// Revokes one session. Returns false when it was already revoked or does not exist.
    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool, StoreError>;

    /// Revokes every active session of a user except `keep`; returns the revoked ids.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Deletes sessions (and their refresh tokens) that expired or were revoked before
    /// `cutoff`; returns how many.
    async fn delete_dead_sessions(&self, cutoff: i64) -> Result<u64, StoreError>;

    /// Number of active sessions.
    async fn count_active_sessions(&self, now: i64) -> Result<u64, StoreError>;
}
