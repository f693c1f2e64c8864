//! What a backup's SQLite file holds, also when an older securechat made it: the tables added
//! since are absent from its counts (it is migrated when opened), not an error.

use securechat_store_sqlite::{contents_of, SqliteStore};

#[tokio::test]
async fn an_older_schema_is_counted_by_the_tables_it_has() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("securechat.db");
    let store = SqliteStore::open(&path).await.expect("open");
    securechat_store::Store::close(&store).await;
    let current = contents_of(&path).await.expect("contents");
    assert_eq!(current.counts.get("group_members"), Some(&0));
    assert_eq!(current.counts.get("users"), Some(&0));

    // As a 0.2.0 database: without the group tables.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
        .await
        .expect("connect");
    for table in ["group_members", "group_changes", "groups"] {
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&mut conn)
            .await
            .expect("drop");
    }
    // Into the main file: `contents_of` reads it as immutable (a backup file has no WAL).
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .expect("checkpoint");
    sqlx::Connection::close(conn).await.expect("close");
    let older = contents_of(&path)
        .await
        .expect("an older schema is readable");
    assert_eq!(older.counts.get("group_members"), None);
    assert_eq!(older.counts.get("users"), Some(&0));
}
