//! Backups of a running server's database: `VACUUM INTO` writes a consistent copy on a
//! connection of its own while the writer and the readers carry on (WAL: the copy reads one
//! snapshot, nobody waits for it), and [`contents_of`] reads what a copy holds without
//! changing it.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection as _, Row as _, SqliteConnection};

use securechat_store::backup::{Contents, COUNTED_TABLES, LIVE_MESSAGES};
use securechat_store::model::FileId;
use securechat_store::{Migration, Schema, StoreError};

use crate::{map_err, SqliteStore};

impl SqliteStore {
    /// Writes a consistent copy of the database to `dest`, a file that must not exist yet
    /// (`VACUUM INTO`: compacted, without the WAL, as of one moment). The copy is not synced
    /// to disk here; the caller syncs it with the rest of its backup.
    pub async fn backup_into(&self, dest: &Path) -> Result<(), StoreError> {
        let Some(target) = dest.to_str() else {
            return Err(StoreError::Other(
                format!("the backup path {} is not valid UTF-8", dest.display()).into(),
            ));
        };
        let mut conn = SqliteConnection::connect_with(&self.options)
            .await
            .map_err(map_err)?;
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&mut conn)
            .await
            .map_err(map_err);
        conn.close().await.ok();
        copied.map(|_| ())
    }
}

/// What the database file at `path` holds (a backup's copy): rows per table, the files its
/// rows name and its migrations. The file is opened read-only and immutable, so nothing is
/// written beside it (no `-wal`, no `-shm`).
pub async fn contents_of(path: &Path) -> Result<Contents, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(map_err)?;
    let read = read_contents(&mut conn).await;
    conn.close().await.ok();
    read
}

async fn read_contents(conn: &mut SqliteConnection) -> Result<Contents, StoreError> {
    let mut contents = Contents::default();
    // A backup made by an older securechat lacks the tables added since (it is migrated when
    // the restored database is opened): count the tables it has; its manifest names no more.
    let present: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    for table in COUNTED_TABLES {
        if !present.iter().any(|name| name == table) {
            continue;
        }
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        contents
            .counts
            .insert(table.to_owned(), u64::try_from(rows).unwrap_or(0));
    }
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE envelope IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    contents
        .counts
        .insert(LIVE_MESSAGES.to_owned(), u64::try_from(live).unwrap_or(0));
    let files = sqlx::query("SELECT id, size FROM files ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    for row in files {
        let id: Vec<u8> = row.try_get("id").map_err(map_err)?;
        let size: i64 = row.try_get("size").map_err(map_err)?;
        let id = FileId::try_from(id.as_slice())
            .map_err(|_| StoreError::Other("a file id is not 16 bytes".into()))?;
        contents.files.push((id, u64::try_from(size).unwrap_or(0)));
    }
    let migrations: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    contents.schema = Schema {
        applied: migrations.len(),
        latest: migrations.last().map(|(v, d)| Migration::new(*v, d)),
    };
    Ok(contents)
}
