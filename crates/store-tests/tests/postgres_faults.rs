//! PostgresStore facing a database it cannot use: refused at start in plain words, and
//! readiness that follows whether writes work.

use std::time::Duration;

use securechat_store::{Messages as _, StoreError};
use securechat_store_postgres::{PostgresOptions, PostgresStore};
use securechat_store_tests::conformance::{message, user};
use securechat_store_tests::{postgres_admin_url, postgres_or_skip, Backend, TestDatabase};
use sqlx::Connection as _;

/// Runs `sql` on the admin database.
async fn admin(sql: &str) {
    let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .expect("admin connection");
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

/// The database name at the end of a test database's URL.
fn name_of(db: &TestDatabase) -> String {
    let url = db.url();
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Ends every connection to the database but this one (the store's pool reconnects).
async fn disconnect_all(name: &str) {
    admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_refused_in_plain_words() {
    let options = PostgresOptions {
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    match PostgresStore::connect("postgres://nobody:secret@127.0.0.1:1/nothing", options).await {
        Err(StoreError::Unavailable(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("cannot connect to the PostgreSQL database 127.0.0.1:1/nothing"),
                "{text}"
            );
            assert!(!text.contains("secret"), "the password is not told: {text}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_read_only_database_is_refused_at_start() {
    if !postgres_or_skip().await {
        return;
    }
    let db = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a test database");
    let name = name_of(&db);
    admin(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
    ))
    .await;
    match PostgresStore::connect(&db.url(), PostgresOptions::default()).await {
        Err(StoreError::Unavailable(e)) => {
            let text = e.to_string();
            assert!(text.contains("cannot be written"), "{text}");
            assert!(text.contains("read-only"), "{text}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn readiness_follows_whether_writes_work() {
    if !postgres_or_skip().await {
        return;
    }
    let db = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a test database");
    let name = name_of(&db);
    let store = db.open().await;
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    store.ping().await.expect("ready");

    // The database turns read-only (as a replica would be): writes fail as Unavailable,
    // and readiness says so.
    admin(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
    ))
    .await;
    disconnect_all(&name).await;
    for n in 0..2 {
        match store.append_messages(&[message(a, b, n, "x")]).await {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    assert!(store.write_failure().is_some());
    assert!(store.ping().await.is_err(), "not ready while writes fail");

    // Writable again: the next probe (at most one a second) brings readiness back.
    admin(&format!(
        "ALTER DATABASE \"{name}\" RESET default_transaction_read_only"
    ))
    .await;
    disconnect_all(&name).await;
    let mut ready = false;
    for _ in 0..50 {
        if store.ping().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "readiness came back: {:?}", store.write_failure());
    assert_eq!(store.write_failure(), None);
    store
        .append_messages(&[message(a, b, 9, "x")])
        .await
        .expect("writes work again");
}

#[tokio::test]
async fn a_statement_that_waits_too_long_is_unavailable() {
    if !postgres_or_skip().await {
        return;
    }
    let db = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a test database");
    let store = db.open().await;
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let impatient = PostgresStore::connect(
        &db.url(),
        PostgresOptions {
            statement_timeout: Duration::from_millis(200),
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("connect");

    // Another transaction holds a's stream: the append waits for it, then gives up.
    let mut holder = sqlx::PgConnection::connect(&db.url())
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("SELECT * FROM streams WHERE user_id = $1 FOR UPDATE")
        .bind(a.0)
        .execute(&mut holder)
        .await
        .expect("lock");
    let start = std::time::Instant::now();
    match impatient.append_messages(&[message(a, b, 1, "x")]).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");
    impatient
        .append_messages(&[message(a, b, 1, "x")])
        .await
        .expect("the same append works once the lock is gone");
}
