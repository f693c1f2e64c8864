//! Records as stored. These are the store's domain types, distinct from the wire types.

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::keys::KeyStatus;
use uuid::Uuid;

/// An encryption key as stored (decoded bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionKeyRow {
    pub key_id: [u8; 8],
    pub x25519: [u8; 32],
    pub created_at: i64,
    pub binding_sig: [u8; 64],
    pub status: KeyStatus,
}

/// A new account, fully validated by the server (no `Debug`: it holds the password hash).
#[derive(Clone)]
pub struct NewUser {
    pub id: UserId,
    /// Canonical username (NFKC, lower case).
    pub username: String,
    /// Canonical email (lower case).
    pub email: String,
    /// What proves the password: an Argon2id hash or an OPAQUE record.
    pub credential: Credential,
    pub identity_key: [u8; 32],
    pub first_key: EncryptionKeyRow,
    pub created_at: i64,
    /// What lets this account in (the registration mode's check, made in the same
    /// transaction that creates the account).
    pub gate: Gate,
}

/// What proves an account's password (no `Debug`: it is secret material). Stored as the
/// `password_hash` column (empty for an OPAQUE account) and the `opaque_record` column
/// (NULL for an Argon2 one).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An Argon2id PHC string, checked by the server (the password grant).
    Argon2(String),
    /// An OPAQUE registration record (192 bytes): the password never reaches the server.
    Opaque(Vec<u8>),
}

impl Credential {
    /// The `password_hash` column: the hash, or empty.
    pub fn hash_column(&self) -> &str {
        match self {
            Self::Argon2(hash) => hash,
            Self::Opaque(_) => "",
        }
    }

    /// The `opaque_record` column.
    pub fn record_column(&self) -> Option<&[u8]> {
        match self {
            Self::Argon2(_) => None,
            Self::Opaque(record) => Some(record),
        }
    }

    /// From the two columns: a record makes it an OPAQUE account.
    pub fn from_columns(hash: String, record: Option<Vec<u8>>) -> Self {
        match record {
            Some(record) => Self::Opaque(record),
            None => Self::Argon2(hash),
        }
    }

    /// The OPAQUE record, if the account has one.
    pub fn opaque_record(&self) -> Option<&[u8]> {
        self.record_column()
    }

    /// The Argon2 hash, if the account has one (deleted accounts have an empty one).
    pub fn argon2_hash(&self) -> Option<&str> {
        match self {
            Self::Argon2(hash) if !hash.is_empty() => Some(hash),
            _ => None,
        }
    }
}

/// What a new account must pass to be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Anyone may register.
    Open,
    /// Only the first account of an empty server (`Refused(NotFirstAccount)` otherwise).
    FirstAccount,
    /// An unused, unexpired invitation with this code hash (SHA-256), used up by this
    /// account; `Refused(Invite…)` otherwise.
    Invite([u8; 32]),
}

/// A stored account. Its `Debug` leaves out the password hash.
#[derive(Clone)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub credential: Credential,
    pub identity_key: [u8; 32],
    pub created_at: i64,
    /// When the account was deleted (its row stays, so that the username stays reserved).
    pub deleted_at: Option<i64>,
    /// When an operator disabled the account (it cannot log in until enabled again).
    pub disabled_at: Option<i64>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A user's id and name, for the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserListing {
    pub id: UserId,
    pub username: String,
    /// The account was deleted.
    pub deleted: bool,
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
    /// The user's login sources last seen before this are forgotten.
    pub forget_sources_before: i64,
}

/// The paper's IP rule ("botnet detection"), as checked at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLimits {
    /// A user may have active sessions from at most this many distinct addresses.
    pub max_ips_per_user: usize,
    /// An address is refused once this many distinct users would have sessions from it.
    pub refuse_users_per_ip: usize,
}

impl IpLimits {
    /// The refusal of a login after which the user would have active sessions from `ips`
    /// addresses (the new session's counted), if it breaks the rule.
    pub fn judge_ips(&self, ips: usize) -> Option<Admission> {
        (ips > self.max_ips_per_user).then_some(Admission::TooManyIpsForUser { ips })
    }

    /// The refusal of a login after which its address would carry active sessions of `users`
    /// users (the new session's user counted), if it breaks the rule.
    pub fn judge_users(&self, users: usize) -> Option<Admission> {
        (users >= self.refuse_users_per_ip).then_some(Admission::TooManyUsersOnIp { users })
    }
}

/// What `create_session` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The session is stored.
    Admitted,
    /// The user would have sessions from `ips` addresses, more than allowed; nothing stored.
    TooManyIpsForUser { ips: usize },
    /// `users` users would have sessions from this address, at or over the limit; nothing
    /// stored.
    TooManyUsersOnIp { users: usize },
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

/// A file's random 128-bit id.
pub type FileId = [u8; 16];

/// A message accepted for storage. The server has checked the routing header.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender: UserId,
    pub recipient: UserId,
    /// The client's 128-bit message id (idempotency key).
    pub msg_id: [u8; 16],
    /// The envelope's JSON text, stored and served as is.
    pub envelope: String,
    /// SHA-256 of `envelope`: a resend must match it exactly.
    pub digest: [u8; 32],
    pub received_at: i64,
    pub expires_at: Option<i64>,
    /// Files this message carries; each must have been uploaded by the sender for the
    /// recipient and not yet be referenced.
    pub files: Vec<FileId>,
}

/// What storing one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored; its place in both streams.
    Stored { sender_seq: u64, recipient_seq: u64 },
    /// The same sender already sent this `msg_id` with the same content.
    Duplicate { sender_seq: u64, received_at: i64 },
    /// The same sender already used this `msg_id` for different content.
    Conflict,
    /// A referenced file is unknown, not the sender's for this recipient, or already used.
    BadFile,
    /// The sender's or the recipient's account was deleted; nothing was stored.
    Gone,
}

/// What a stored message's idempotency key `(sender, msg_id)` answers to a message sent
/// again with it: the same content is a duplicate of the original, other content a conflict.
/// Every backend settles resends with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredKey {
    /// SHA-256 of the stored envelope.
    pub digest: [u8; 32],
    pub received_at: i64,
    pub sender_seq: u64,
}

impl StoredKey {
    /// The outcome of sending `m` again under this key.
    pub fn answer(&self, m: &NewMessage) -> AppendOutcome {
        if self.digest == m.digest {
            AppendOutcome::Duplicate {
                sender_seq: self.sender_seq,
                received_at: self.received_at,
            }
        } else {
            AppendOutcome::Conflict
        }
    }
}

/// A message removed for everyone who got it (deleted or expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub msg_id: [u8; 16],
    pub sender: UserId,
    /// The group the message was sent in; `None` for a 1:1 message.
    pub group: Option<Uuid>,
    /// The removal event's place in each stream it went to: the sender's first, then the
    /// recipient's (in a group: each other member who received the message, by user id).
    pub streams: Vec<(UserId, u64)>,
    /// Files the message carried; their records are gone, their bytes must go too.
    pub files: Vec<FileId>,
}

/// A message sent in a group, accepted for storage. The server has checked its routing
/// header; the store checks it against the group's membership in the same transaction.
#[derive(Debug, Clone)]
pub struct NewGroupMessage {
    /// The message. Its `recipient` is the group id (as a `UserId`): the id the files it
    /// carries were uploaded for.
    pub message: NewMessage,
    pub group: Uuid,
    /// The users with a wrap, the sender's own included.
    pub wrapped: Vec<UserId>,
}

/// What storing a group message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAppendOutcome {
    /// Stored; its place in the sender's stream and in each other member's, by user id.
    Stored {
        sender_seq: u64,
        members: Vec<(UserId, u64)>,
    },
    /// The same sender already sent this `msg_id` with the same content.
    Duplicate { sender_seq: u64, received_at: i64 },
    /// The same sender already used this `msg_id` for different content.
    Conflict,
    /// A referenced file is unknown, not the sender's for this group, or already used.
    BadFile,
    /// The group does not exist, or the sender is not one of its members (or its account was deleted).
    NotMember,
    /// The users with a wrap are not the group's current members: someone outside it has a
    /// wrap, or a member whose account is live has none. Nothing was stored.
    MembershipChanged,
}

/// A live stored message as served in history and replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: u64,
    pub from: UserId,
    /// The group it was sent in; `None` for a 1:1 message.
    pub group: Option<Uuid>,
    pub ts: i64,
    pub envelope: String,
    pub expires_at: Option<i64>,
}

/// One event of a user's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxEvent {
    Message(StoredMessage),
    Deleted {
        seq: u64,
        msg_id: [u8; 16],
        from: UserId,
        /// The tombstone envelope's JSON text; `None` when the message expired.
        tombstone: Option<String>,
        /// The group the message was sent in.
        group: Option<Uuid>,
    },
    /// `peer` read up to `up_to`: the messages of the conversation with `peer`, or in
    /// `group` when set (then `peer` is the member who read).
    Read {
        seq: u64,
        peer: UserId,
        up_to: i64,
        group: Option<Uuid>,
    },
}

/// An uploaded file's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub id: FileId,
    pub uploader: UserId,
    /// The one other user allowed to download it.
    pub recipient: UserId,
    pub size: u64,
    pub created_at: i64,
}

/// A page of a user's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<InboxEvent>,
    /// The last seq scanned (events left out included); `since` when nothing was.
    pub last_scanned: u64,
    /// True when the scan stopped at `limit` and more entries may follow.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IpLimits = IpLimits {
        max_ips_per_user: 2,
        refuse_users_per_ip: 3,
    };

    #[test]
    fn the_ip_rule_counts_the_new_session_too() {
        assert_eq!(LIMITS.judge_ips(2), None);
        assert_eq!(
            LIMITS.judge_ips(3),
            Some(Admission::TooManyIpsForUser { ips: 3 })
        );
        assert_eq!(LIMITS.judge_users(2), None);
        assert_eq!(
            LIMITS.judge_users(3),
            Some(Admission::TooManyUsersOnIp { users: 3 })
        );
    }
}

/// A new invitation (its code is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    pub code_hash: [u8; 32],
    /// Free text for the operator ("for Grandma").
    pub note: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// An invitation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRow {
    pub code_hash: [u8; 32],
    pub note: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by: Option<UserId>,
}

/// A new one-time password-reset code for an account (only its SHA-256 is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReset {
    pub code_hash: [u8; 32],
    pub user: UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What deleting an account removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountRemoval {
    /// The sessions it revoked (their sockets must close).
    pub sessions: Vec<SessionId>,
    /// The messages the account had sent, removed for both sides (stream events recorded).
    pub removals: Vec<Removal>,
    /// Files the account had uploaded and no removal above carried: their bytes must go too.
    pub files: Vec<FileId>,
}

/// An account as an operator sees it (`securechat admin users`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: UserId,
    pub username: String,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
    pub disabled_at: Option<i64>,
    /// The account's last login or token refresh, as far as the store still knows it (the
    /// newest refresh token of its kept sessions, or its newest known login source).
    pub last_seen: Option<i64>,
    /// Sessions neither revoked nor expired.
    pub active_sessions: u64,
}
