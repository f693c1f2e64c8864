//! Store tests shared by every crate: a factory of throw-away databases on either backend
//! (`TestDatabase`, chosen for other crates' tests by `SECURECHAT_TEST_BACKEND`) and the
//! conformance suite (`conformance`) that every backend passes; and a private PostgreSQL
//! server that a test may stop and start, or replicate to a standby, kill and fail over
//! (`cluster`).
//!
//! ```no_run
//! # async fn demo() {
//! use securechat_store_tests::{backend_under_test, TestDatabase};
//!
//! let db = TestDatabase::new(backend_under_test()).await.expect("a test database");
//! let (node1, node2) = (db.open().await, db.open().await); // two "processes", one database
//! # let _ = (node1, node2);
//! # }
//! ```

pub mod cluster;
pub mod conformance;
mod database;
pub mod services;

pub use database::{
    backend_under_test, postgres_admin_url, postgres_or_skip, postgres_reachable, Backend,
    TestDatabase, TestDatabaseError, BACKEND_ENV, DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV,
};
