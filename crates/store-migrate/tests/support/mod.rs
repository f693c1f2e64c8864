//! What the migration tests share: a filled SQLite store, and a fresh PostgreSQL database per
//! test (`securechat-store-tests`).
#![allow(dead_code)] // not every test uses every part

pub mod fixture;

use securechat_store_tests::{postgres_or_skip, Backend, TestDatabase};

/// A fresh PostgreSQL database, dropped with the returned guard; `None` (after one line
/// saying so) when PostgreSQL is unreachable outside CI.
pub async fn postgres_database() -> Option<(TestDatabase, String)> {
    if !postgres_or_skip().await {
        return None;
    }
    let db = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a PostgreSQL test database");
    let url = db.url();
    Some((db, url))
}
