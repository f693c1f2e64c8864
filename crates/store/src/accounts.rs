//! Looking after accounts: invitations, password-reset codes, account deletion, and the
//! counts the registration gate and the IP rule need.

use securechat_proto::ids::{SessionId, UserId};

use crate::model::{AccountRemoval, AccountSummary, Credential, InviteRow, NewInvite, NewReset};
use crate::StoreError;

/// Invitations, reset codes and account deletion.
#[async_trait::async_trait]
pub trait Accounts {
    /// Stores a new invitation. `Conflict(Invite)` when the code hash exists (never, for
    /// random codes).
    async fn create_invite(&self, invite: NewInvite) -> Result<(), StoreError>;

    /// Every invitation, newest first.
    async fn list_invites(&self) -> Result<Vec<InviteRow>, StoreError>;

    /// Stores a one-time reset code for an account. `NotFound` when the account does not
    /// exist or was deleted.
    async fn create_reset(&self, reset: NewReset) -> Result<(), StoreError>;

    /// Whose reset code this is, without using it up (the OPAQUE reset's first step): the
    /// same refusals as [`Self::reset_password`].
    async fn check_reset(&self, code_hash: &[u8; 32], now: i64) -> Result<UserId, StoreError>;

    /// Uses up a reset code (and every other unused code of the account): sets the account's
    /// credential (replacing a hash or a record) and revokes every session of the account, in one transaction; returns
    /// the account and the revoked sessions.
    /// `Refused(ResetUnknown | ResetUsed | ResetExpired)` and nothing changes otherwise. Of
    /// two concurrent uses of one code exactly one succeeds.
    async fn reset_password(
        &self,
        code_hash: &[u8; 32],
        credential: &Credential,
        now: i64,
    ) -> Result<(UserId, Vec<SessionId>), StoreError>;

    /// Deletes an account, in one transaction (after it, every store write that involves the
    /// account is refused: appends answer `Gone`, logins `NotFound`): marks it deleted (its username stays taken,
    /// its email and password are forgotten, it can no longer log in), revokes its
    /// sessions, removes every message it sent for both sides (a `deleted` event in both
    /// streams, like an expiry), and drops its files and reset codes. `NotFound` when there
    /// is no such live account.
    async fn delete_user(&self, id: UserId, now: i64) -> Result<AccountRemoval, StoreError>;

    /// Whether any account exists (deleted ones included).
    async fn has_accounts(&self) -> Result<bool, StoreError>;

    /// Deletes invitations and reset codes that expired or were used before `cutoff`;
    /// returns how many.
    async fn delete_dead_codes(&self, cutoff: i64) -> Result<u64, StoreError>;

    /// How many distinct users have an active session from `ip`.
    async fn users_signed_in_from(&self, ip: &str, now: i64) -> Result<usize, StoreError>;

    /// Disables an account, in one transaction: marks it disabled (an account disabled
    /// already keeps its first time) and revokes every active session; returns the revoked
    /// sessions. Until it is enabled again, `create_session` refuses it
    /// (`Refused(AccountDisabled)`). A login racing the disabling either gets no session or
    /// has it revoked here. `NotFound` when there is no such live account.
    async fn disable_user(&self, id: UserId, now: i64) -> Result<Vec<SessionId>, StoreError>;

    /// Enables a disabled account; false when it was not disabled. `NotFound` when there is
    /// no such live account.
    async fn enable_user(&self, id: UserId) -> Result<bool, StoreError>;

    /// Every account (deleted ones included) with when it was last seen and its active
    /// sessions at `now`, ordered by username.
    async fn account_summaries(&self, now: i64) -> Result<Vec<AccountSummary>, StoreError>;
}
