//! The storage layer's contract. The server holds an `Arc<dyn Store>` and never sees SQL; each
//! backend crate (SQLite, PostgreSQL) implements these traits and owns its migrations.
//!
//! Times are Unix milliseconds (`i64`) throughout, which every backend stores natively.
//!
//! # The contract every backend keeps
//!
//! Several server processes may share one database (PostgreSQL, or two `SqliteStore`s on one
//! file). Every guarantee below is kept by the database's own atomicity (transactions, row
//! locks, unique constraints), never by a lock inside one process:
//!
//! - **Streams.** Each user's `seq` is gap-free and strictly increasing, even while several
//!   processes append to the same user at once; a reader never sees seq `n + 1` before `n`.
//!   A message's id grows with its `seq` in both streams.
//! - **Idempotency.** `(sender, msg_id)` names at most one message. Sending it again with the
//!   same content answers the original `seq`; different content is a conflict.
//! - **Atomic steps.** Each method is one transaction: account + first key, key publishing
//!   (with its uniqueness and ordering checks), password change + revocation of the other
//!   sessions, a login's IP-rule check + its session, a message + its file attachments, an
//!   account + the invitation it uses up, a reset code's use + the password change + the
//!   revocations, an account's deletion + the removal of everything it sent, an account's
//!   disabling + the revocation of its sessions, a group change + the group's new membership,
//!   a group message + the membership check it passed + its entry in every member's stream.
//! - **Group chains** grow by compare-and-swap on the last seq: of two changes made on the
//!   same head exactly one is stored (the other is `Conflict(GroupHead)`).
//! - **Refresh rotation** is a compare-and-swap: of two concurrent uses of one token exactly
//!   one rotates it (the other is answered as a repeat within the grace window, or as reuse).
//! - **Errors** are classified from the database's error codes (SQLSTATE, SQLite's extended
//!   result codes), never by matching message text: `Unavailable` means nothing was stored and
//!   the same call may succeed later.
//! - **Durability.** A write returns `Ok` only after its commit is durable.
//!
//! The conformance suite (`securechat-store-tests`) checks all of this on every backend.

pub mod accounts;
pub mod backup;
pub mod cluster;
pub mod error;
pub mod files;
pub mod group_messages;
pub mod groups;
pub mod health;
pub mod messages;
pub mod model;
pub mod schema;
pub mod security;
pub mod sessions;
pub mod users;

pub use accounts::Accounts;
pub use cluster::Cluster;
pub use error::StoreError;
pub use files::Files;
pub use group_messages::GroupMessages;
pub use groups::Groups;
pub use messages::Messages;
pub use schema::{Migration, NewerDatabase, Schema};
pub use security::Security;
pub use sessions::Sessions;
pub use users::Users;

/// Everything the server needs from storage.
#[async_trait::async_trait]
pub trait Store:
    Users
    + Accounts
    + Sessions
    + Messages
    + Files
    + Groups
    + GroupMessages
    + Cluster
    + Security
    + Send
    + Sync
    + 'static
{
    /// Cheap round trip to the database, for `/readyz`: `Err` while the database cannot be
    /// reached, or while writes fail (then it retries a small write, at most once a second,
    /// so readiness comes back by itself when the cause goes away).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Why writes are failing, while they are (the last failure's text); `None` when the last
    /// write went through.
    fn write_failure(&self) -> Option<String>;

    /// Which backend this is (`"sqlite"`, `"postgres"`), for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Flushes and closes the database (graceful shutdown).
    async fn close(&self);
}
