//! The storage layer's contract. The server holds an `Arc<dyn Store>` and never sees SQL; each
//! backend crate (SQLite now) implements these traits and owns its migrations.
//!
//! Times are Unix milliseconds (`i64`) throughout, which every backend stores natively.

pub mod error;
pub mod files;
pub mod messages;
pub mod model;
pub mod sessions;
pub mod users;

pub use error::StoreError;
pub use files::Files;
pub use messages::Messages;
pub use sessions::Sessions;
pub use users::Users;

/// Everything the server needs from storage.
#[async_trait::async_trait]
pub trait Store: Users + Sessions + Messages + Files + Send + Sync + 'static {
    /// Cheap round trip to the database, for `/readyz`: `Err` while the database cannot be
    /// reached, or while writes fail (then it retries a small write, so readiness comes back
    /// by itself when the cause goes away).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Why writes are failing, while they are (the last failure's text); `None` when the last
    /// write went through.
    fn write_failure(&self) -> Option<String>;

    /// Flushes and closes the database (graceful shutdown).
    async fn close(&self);
}
