//! Login sessions and their rotating refresh tokens.

use securechat_proto::ids::{SessionId, UserId};

use crate::model::{Admission, IpLimits, NewSession, RefreshOutcome, SessionRow};
use crate::StoreError;

/// Login sessions. A session is active while not revoked and not expired.
#[async_trait::async_trait]
pub trait Sessions {
    /// Admits a login: checks the IP rule's `limits` (when given) against the active sessions
    /// of every process, then stores the new session and its first refresh token and notes
    /// its address as a known login source of the user (forgetting the user's sources last
    /// seen before `forget_sources_before`), all in one transaction. `NotFound` when the
    /// account is deleted (or missing): a login that raced the deletion gets no session;
    /// `Refused(AccountDisabled)` when an operator disabled it; `Conflict(Session)` when a
    /// session with this id exists (nothing is stored: a login's finish is single-use). Concurrent logins at the
    /// rule's edge are serialised by the database: no interleaving admits more than the rule
    /// allows. A refused login stores nothing.
    async fn create_session(
        &self,
        session: NewSession,
        limits: Option<IpLimits>,
    ) -> Result<Admission, StoreError>;

    /// Reads a session (active or not).
    async fn get_session(&self, id: SessionId) -> Result<Option<SessionRow>, StoreError>;

    /// Presents a refresh token (by hash). A current token is rotated to `new_hash` (kept as
    /// its successor) and the session's expiry moves to `new_expires_at`. A token rotated at
    /// less than `grace_ms` ago, whose successor is `new_hash` and not itself rotated yet, is
    /// answered `Rotated` again and changes nothing (concurrent refreshes with one token: the
    /// caller derives the same successor). Any other rotated token revokes the session.
    /// A compare-and-swap: of two concurrent presentations of one current token exactly one
    /// rotates it; the other sees the rotation (and is answered as above).
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

    /// Sessions revoked at or after `since` (by logout, password change or refresh reuse,
    /// on any node), with when. Nodes poll it to close the sockets of sessions revoked
    /// elsewhere when no faster word reached them.
    async fn revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>, StoreError>;

    /// Deletes sessions (and their refresh tokens) that expired before `expired_before` or
    /// were revoked before `revoked_before`; returns how many.
    async fn delete_dead_sessions(
        &self,
        expired_before: i64,
        revoked_before: i64,
    ) -> Result<u64, StoreError>;

    /// The active sessions at `now` (of `user` only, when given), oldest first.
    async fn active_sessions(
        &self,
        user: Option<UserId>,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError>;

    /// Number of active sessions.
    async fn count_active_sessions(&self, now: i64) -> Result<u64, StoreError>;
}
