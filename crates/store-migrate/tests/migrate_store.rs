//! The migration on real databases: a SQLite store filled through its traits is copied into a
//! fresh PostgreSQL database, and `PostgresStore` then answers exactly what `SqliteStore`
//! did, and carries on from there.

mod support;

use std::path::{Path, PathBuf};

use sqlx::{Connection as _, PgConnection, SqliteConnection};

use securechat_store::model::{AppendOutcome, RefreshOutcome};
use securechat_store::security::{SecurityEvent, SecurityKind};
use securechat_store::{Messages as _, Security as _, Sessions as _, Store, Users as _};
use securechat_store_migrate::{migrate, MigrateError, Options, Progress};
use securechat_store_postgres::{PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;

use support::fixture::{self, Fixture, Observed, NOW};
use support::postgres_database;

/// Tables in copy order, with the fixture's row counts.
const FIXTURE_ROWS: [(&str, u64); 15] = [
    ("users", 4),
    ("streams", 4),
    ("encryption_keys", 6),
    ("sessions", 3),
    ("refresh_tokens", 4),
    ("login_sources", 3),
    ("messages", 7),
    ("inbox", 19),
    ("files", 2),
    ("invites", 2),
    ("password_resets", 1),
    ("security_events", 2),
    ("groups", 1),
    ("group_changes", 3),
    ("group_members", 2),
];

/// A SQLite database holding the fixture (closed), and what its store answered.
async fn sqlite_fixture() -> (tempfile::TempDir, PathBuf, Fixture, Observed) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("securechat.db");
    let store = SqliteStore::open(&path).await.expect("open sqlite");
    let fixture = fixture::fill(&store).await;
    let observed = fixture::observe(&store, &fixture).await;
    store.close().await;
    (dir, path, fixture, observed)
}

async fn postgres(url: &str) -> PostgresStore {
    PostgresStore::connect(url, PostgresOptions::default())
        .await
        .expect("connect postgres")
}

/// Rows of `table` in the database at `url`.
async fn rows(url: &str, table: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

#[tokio::test]
async fn every_table_is_copied_in_chunks_and_postgres_answers_the_same() {
    let Some((_db, url)) = postgres_database().await else {
        return;
    };
    let (_dir, path, fixture, before) = sqlite_fixture().await;

    let mut progress = Vec::new();
    let options = Options { chunk_rows: 2 };
    let report = migrate(&path, &url, &options, &mut |p| progress.push(p))
        .await
        .expect("migrate");

    let checked: Vec<(&str, u64)> = report
        .tables
        .iter()
        .map(|t| (t.table, t.target.rows))
        .collect();
    assert_eq!(checked, FIXTURE_ROWS);
    assert!(report.tables.iter().all(|t| t.matches()));
    // Pages of two rows: inbox's 19 rows arrive in 10 steps, the last one complete.
    let inbox: Vec<u64> = progress
        .iter()
        .filter_map(|p| match p {
            Progress::Copied {
                table: "inbox",
                copied,
                total,
            } => {
                assert_eq!(*total, 19);
                Some(*copied)
            }
            _ => None,
        })
        .collect();
    assert_eq!(inbox, [2, 4, 6, 8, 10, 12, 14, 16, 18, 19]);
    assert!(progress.contains(&Progress::Verifying { table: "files" }));

    let store = postgres(&url).await;
    assert_eq!(fixture::observe(&store, &fixture).await, before);

    // It carries on: the next message continues both streams and gets a fresh id; a resend
    // is still recognised; the rotated refresh token's grace window and successor hold.
    let [alice, bob, carol] = fixture.users;
    let (alice_seq, bob_seq) = (
        store.last_seq(alice).await.expect("seq"),
        store.last_seq(bob).await.expect("seq"),
    );
    let next = fixture::message(alice, bob, 7, "after the move", NOW + 1);
    let outcomes = store
        .append_messages(&[next, fixture.resend.clone()])
        .await
        .expect("append");
    assert_eq!(
        outcomes[0],
        AppendOutcome::Stored {
            sender_seq: alice_seq + 1,
            recipient_seq: bob_seq + 1
        }
    );
    assert!(matches!(outcomes[1], AppendOutcome::Duplicate { .. }));
    let [first, second] = fixture.tokens;
    let repeat = store
        .rotate_refresh(first, second, NOW - 3_999, NOW + 86_400_000, 60_000)
        .await
        .expect("refresh");
    assert!(
        matches!(repeat, RefreshOutcome::Rotated { .. }),
        "{repeat:?}"
    );
    let rotated = store
        .rotate_refresh(second, [25; 32], NOW + 1, NOW + 86_400_000, 60_000)
        .await
        .expect("refresh");
    assert!(
        matches!(rotated, RefreshOutcome::Rotated { .. }),
        "{rotated:?}"
    );
    store
        .add_key(carol, fixture::key(13, 200))
        .await
        .expect("carol's second key");
    let keys = store.list_keys(carol).await.expect("keys");
    assert_eq!(
        keys.iter().map(|k| k.created_at).collect::<Vec<_>>(),
        [3, 200]
    );
    let taken = store
        .take_unreferenced_files(NOW)
        .await
        .expect("unreferenced files");
    assert_eq!(taken, [fixture.files[1]]);
    // The event log's ids continue after the copied ones.
    let copied = store.security_events_since(0, 10).await.expect("events");
    store
        .record_security_events(&[SecurityEvent {
            at: NOW + 1,
            kind: SecurityKind::UnblockIp,
            ip: Some("203.0.113.9".to_owned()),
            user: None,
            login: None,
            count: 1,
        }])
        .await
        .expect("a new event");
    let now = store.security_events_since(0, 10).await.expect("events");
    assert_eq!(now.len(), copied.len() + 1);
    assert!(copied.iter().all(|e| e.id < now[0].id), "{now:?}");
    store.close().await;
}

#[tokio::test]
async fn a_target_holding_data_is_refused_and_left_as_it_was() {
    let Some((_db, url)) = postgres_database().await else {
        return;
    };
    let (_dir, path, fixture, before) = sqlite_fixture().await;
    migrate(&path, &url, &Options::default(), &mut |_| {})
        .await
        .expect("first migration");
    let store = postgres(&url).await;
    let migrated = fixture::observe(&store, &fixture).await;
    store.close().await;

    let (_other_dir, other, _, _) = sqlite_fixture().await;
    let mut progress = Vec::new();
    let err = migrate(&other, &url, &Options::default(), &mut |p| progress.push(p))
        .await
        .expect_err("a second migration into it");
    assert!(
        matches!(
            err,
            MigrateError::TargetNotEmpty {
                table: "users",
                rows: 4
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("already holds data"), "{err}");
    assert!(progress.is_empty(), "nothing was copied: {progress:?}");

    let store = postgres(&url).await;
    assert_eq!(fixture::observe(&store, &fixture).await, migrated);
    assert_eq!(migrated, before);
    store.close().await;
    assert_eq!(rows(&url, "inbox").await, 19);
}

/// Sets message `id`'s sender seq in the SQLite database at `path`; returns the old one.
async fn set_sender_seq(path: &Path, id: i64, seq: Option<i64>) -> Option<i64> {
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("open sqlite");
    let old = sqlx::query_scalar("SELECT sender_seq FROM messages WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .expect("read");
    sqlx::query("UPDATE messages SET sender_seq = $1 WHERE id = $2")
        .bind(seq)
        .bind(id)
        .execute(&mut conn)
        .await
        .expect("update");
    conn.close().await.expect("close");
    old
}

#[tokio::test]
async fn a_failure_midway_leaves_the_target_empty_and_a_rerun_fills_it() {
    let Some((_db, url)) = postgres_database().await else {
        return;
    };
    let (_dir, path, fixture, before) = sqlite_fixture().await;
    // A message without its stream position (possible in SQLite's schema, not in
    // PostgreSQL's) is refused after users, keys and sessions were written.
    let seq = set_sender_seq(&path, 2, None).await;

    let mut progress = Vec::new();
    let err = migrate(&path, &url, &Options::default(), &mut |p| progress.push(p))
        .await
        .expect_err("an inconsistent source");
    assert!(matches!(err, MigrateError::Inconsistent(_)), "{err:?}");
    assert!(err.to_string().contains("message 2 "), "{err}");
    assert!(
        progress.contains(&Progress::Copied {
            table: "users",
            copied: 4,
            total: 4
        }),
        "users were written before the failure: {progress:?}"
    );
    for (table, _) in FIXTURE_ROWS {
        assert_eq!(rows(&url, table).await, 0, "{table} is empty again");
    }

    set_sender_seq(&path, 2, seq).await;
    migrate(&path, &url, &Options::default(), &mut |_| {})
        .await
        .expect("the rerun");
    let store = postgres(&url).await;
    assert_eq!(fixture::observe(&store, &fixture).await, before);
    store.close().await;
}

/// Runs `sql` on the SQLite database at `path` from a thread of its own (the migration's
/// progress callback is synchronous), as a server still running on it would.
fn write_meanwhile(path: &Path, sql: &'static str) {
    let url = format!("sqlite://{}", path.display());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut conn = SqliteConnection::connect(&url).await.expect("open sqlite");
            sqlx::query(sql).execute(&mut conn).await.expect("write");
            conn.close().await.expect("close");
        });
    })
    .join()
    .expect("writer thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_written_during_the_copy_is_refused_and_a_quiet_one_is_not() {
    let Some((_db, url)) = postgres_database().await else {
        return;
    };
    let (_dir, path, fixture, before) = sqlite_fixture().await;
    let mut written = false;
    let err = migrate(&path, &url, &Options::default(), &mut |p| {
        if matches!(p, Progress::Copied { table: "users", .. }) && !written {
            written = true;
            write_meanwhile(
                &path,
                "UPDATE sessions SET revoked_at = 1 WHERE revoked_at IS NULL",
            );
        }
    })
    .await
    .expect_err("a source written meanwhile");
    assert!(matches!(err, MigrateError::SourceChanged), "{err:?}");
    for (table, _) in FIXTURE_ROWS {
        assert_eq!(rows(&url, table).await, 0, "{table} is empty again");
    }

    // Time passing during the copy (the store's checkpoints run meanwhile) is no write.
    write_meanwhile(
        &path,
        "UPDATE sessions SET revoked_at = NULL WHERE revoked_at = 1",
    );
    migrate(&path, &url, &Options::default(), &mut |p| {
        if matches!(p, Progress::Copied { table: "users", .. }) {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    })
    .await
    .expect("a quiet source");
    let store = postgres(&url).await;
    assert_eq!(fixture::observe(&store, &fixture).await, before);
    store.close().await;
}

#[tokio::test]
async fn a_missing_source_is_refused_before_the_target_is_touched() {
    let Some((_db, url)) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing.db");
    let err = migrate(&missing, &url, &Options::default(), &mut |_| {})
        .await
        .expect_err("no source");
    assert!(matches!(err, MigrateError::SourceMissing(_)), "{err:?}");
    assert!(!missing.exists(), "no database was created");
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let schema: bool = sqlx::query_scalar("SELECT to_regclass('users') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .expect("schema");
    assert!(!schema, "no migration was applied to the target");
}
