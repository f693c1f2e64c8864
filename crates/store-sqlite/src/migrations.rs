//! The embedded migrations: applying them, naming what the database then holds, and refusing
//! a database that a newer securechat upgraded (it holds a migration this binary lacks).

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::SqlitePool;

use securechat_store::{Migration, NewerDatabase, Schema, StoreError};

/// This binary's migrations (`migrations/`, read at compile time).
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The newest migration this binary has.
pub fn newest_known() -> Migration {
    MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .max_by_key(|m| m.version)
        .map_or_else(
            || Migration::new(0, "none"),
            |m| Migration::new(m.version, &m.description),
        )
}

/// The migrations applied to the database (after `MIGRATOR.run`).
pub(crate) async fn applied(pool: &SqlitePool) -> Result<Schema, sqlx::Error> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    Ok(Schema {
        applied: rows.len(),
        latest: rows.last().map(|(v, d)| Migration::new(*v, d)),
    })
}

/// What a failed `MIGRATOR.run` (other than a failing statement) means: a database upgraded by
/// a newer securechat when it holds a migration newer than any this binary has (sqlx checks
/// the applied ones before applying anything, so nothing was changed), else the error itself.
pub(crate) async fn refusal(pool: &SqlitePool, error: MigrateError) -> StoreError {
    let known = newest_known();
    let MigrateError::VersionMissing(version) = error else {
        return StoreError::Other(Box::new(error));
    };
    if version <= known.version {
        return StoreError::Other(Box::new(error));
    }
    let newest: Option<(i64, String)> = sqlx::query_as(
        "SELECT version, description FROM _sqlx_migrations ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .ok()
    .flatten();
    let newest = newest.map_or_else(
        || Migration::new(version, "unknown"),
        |(v, d)| Migration::new(v, &d),
    );
    StoreError::NewerDatabase(NewerDatabase {
        newest,
        known,
        binary: env!("CARGO_PKG_VERSION"),
    })
}
