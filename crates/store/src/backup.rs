//! What a backup records of a database: a consistent snapshot's row counts, the files its rows
//! name (their bytes belong in the backup too) and its migrations. Each backend takes the
//! snapshot its own way (SQLite `VACUUM INTO`, PostgreSQL an exported snapshot) and reads
//! these from it with the same queries.

use std::collections::BTreeMap;

use crate::model::FileId;
use crate::Schema;

/// The tables whose rows a backup counts, on every backend.
pub const COUNTED_TABLES: [&str; 13] = [
    "users",
    "encryption_keys",
    "sessions",
    "refresh_tokens",
    "login_sources",
    "messages",
    "inbox",
    "files",
    "invites",
    "password_resets",
    "groups",
    "group_changes",
    "group_members",
];

/// The count of messages that still hold their ciphertext (not deleted, not yet expired by
/// the expiry job), beside the tables' row counts.
pub const LIVE_MESSAGES: &str = "messages_with_content";

/// What one consistent snapshot of a database holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// Rows per table of [`COUNTED_TABLES`], and [`LIVE_MESSAGES`].
    pub counts: BTreeMap<String, u64>,
    /// Every file a row names, with its size in bytes, ordered by id.
    pub files: Vec<(FileId, u64)>,
    /// The migrations the snapshot holds.
    pub schema: Schema,
}
