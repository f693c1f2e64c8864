//! The one error type of every store backend.

/// Which uniqueness rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    UserId,
    Username,
    Email,
    IdentityKey,
    EncryptionKey,
    /// A published encryption key is as new as or newer than the one offered.
    KeyOrder,
    /// An invitation or reset code with this hash exists.
    Code,
    /// A session with this id exists already: the login that was to make it finished once
    /// before (an OPAQUE login's finish replayed).
    Session,
    /// A group change did not extend the group's last stored change (another came first, or
    /// the group exists already, or does not exist yet).
    GroupHead,
}

/// Why a gated write (a registration, a password reset) was refused; nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The gate admits only the first account, and accounts exist.
    NotFirstAccount,
    /// No invitation has this code.
    InviteUnknown,
    /// The invitation was used already.
    InviteUsed,
    /// The invitation expired.
    InviteExpired,
    /// No reset code has this value.
    ResetUnknown,
    /// The reset code was used already.
    ResetUsed,
    /// The reset code expired.
    ResetExpired,
    /// An operator disabled the account: it may not log in.
    AccountDisabled,
}

/// A storage failure, mapped from the backend's errors in exactly one place per backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken.
    #[error("conflict on {0:?}")]
    Conflict(Conflict),
    /// A gate refused the write (see `Refusal`).
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The database cannot take the request now (disk full, I/O error, read-only file,
    /// connection lost, busy): nothing was stored, and the same request may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database holds migrations of a newer securechat (refused at start, unchanged).
    #[error(transparent)]
    NewerDatabase(#[from] crate::schema::NewerDatabase),
    /// Anything else (a corrupt row, a bug, …).
    #[error("storage failure: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}
