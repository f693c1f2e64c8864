//! The conformance suite on PostgreSQL (`SECURECHAT_TEST_POSTGRES_URL`, by default the local
//! server). Skipped, with one line, when PostgreSQL is unreachable, unless `CI` is set.

use securechat_store_tests::{postgres_or_skip, Backend, TestDatabase};

async fn database() -> Option<TestDatabase> {
    if !postgres_or_skip().await {
        return None;
    }
    let db = TestDatabase::new(Backend::Postgres).await;
    Some(db.expect("a PostgreSQL test database"))
}

securechat_store_tests::conformance_tests!(database);
