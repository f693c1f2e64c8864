//! The conformance suite on SQLite (a file in a temporary folder per test).

use securechat_store_tests::{Backend, TestDatabase};

async fn database() -> Option<TestDatabase> {
    let db = TestDatabase::new(Backend::Sqlite).await;
    Some(db.expect("an SQLite test database"))
}

securechat_store_tests::conformance_tests!(database);
