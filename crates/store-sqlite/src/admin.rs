//! What operators do to accounts on SQLite (`securechat admin`): disabling and enabling
//! them, and the listings of accounts and sessions.

use securechat_proto::ids::{SessionId, UserId};
use securechat_store::error::Refusal;
use securechat_store::model::{AccountSummary, SessionRow};
use securechat_store::StoreError;
use sqlx::{Row as _, SqliteConnection};

use crate::{map_err, rows, SqliteStore};

/// Why a login of `user` may get no session, inside its write transaction: `NotFound` for a
/// deleted (or missing) account, `Refused(AccountDisabled)` for a disabled one.
pub(crate) async fn login_refusal(
    conn: &mut SqliteConnection,
    user: UserId,
) -> Result<Option<StoreError>, StoreError> {
    let state: Option<(bool, bool)> = sqlx::query_as(
        "SELECT deleted_at IS NULL, disabled_at IS NOT NULL FROM users WHERE id = $1",
    )
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(match state {
        Some((true, false)) => None,
        Some((true, true)) => Some(StoreError::Refused(Refusal::AccountDisabled)),
        _ => Some(StoreError::NotFound),
    })
}

pub(crate) async fn disable_user(
    store: &SqliteStore,
    id: UserId,
    now: i64,
) -> Result<Vec<SessionId>, StoreError> {
    let mut tx = store.writer.begin().await?;
    let done = sqlx::query(
        "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) \
         WHERE id = $2 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(id.0)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    }
    let revoked = crate::sessions::revoke_all_but(&mut tx, id, None, now).await?;
    tx.commit().await?;
    Ok(revoked)
}

pub(crate) async fn enable_user(store: &SqliteStore, id: UserId) -> Result<bool, StoreError> {
    let mut tx = store.writer.begin().await?;
    let disabled: Option<bool> = sqlx::query_scalar(
        "SELECT disabled_at IS NOT NULL FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    let Some(disabled) = disabled else {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    };
    if !disabled {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn account_summaries(
    store: &SqliteStore,
    now: i64,
) -> Result<Vec<AccountSummary>, StoreError> {
    sqlx::query(
        "SELECT u.id, u.username, u.created_at, u.deleted_at, u.disabled_at, \
           (SELECT MAX(l.last_login_at) FROM login_sources l WHERE l.user_id = u.id) \
             AS last_login, \
           (SELECT MAX(r.created_at) FROM refresh_tokens r \
              JOIN sessions s ON s.id = r.session_id WHERE s.user_id = u.id) AS last_refresh, \
           (SELECT COUNT(*) FROM sessions s \
              WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > $1) \
             AS active_sessions \
         FROM users u ORDER BY u.username",
    )
    .bind(now)
    .fetch_all(&store.reader)
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| {
        let active: i64 = row.try_get("active_sessions").map_err(map_err)?;
        Ok(AccountSummary {
            id: rows::user_id(row, "id")?,
            username: row.try_get("username").map_err(map_err)?,
            created_at: row.try_get("created_at").map_err(map_err)?,
            deleted_at: row.try_get("deleted_at").map_err(map_err)?,
            disabled_at: row.try_get("disabled_at").map_err(map_err)?,
            last_seen: Option::max(
                row.try_get("last_login").map_err(map_err)?,
                row.try_get("last_refresh").map_err(map_err)?,
            ),
            active_sessions: u64::try_from(active).unwrap_or(0),
        })
    })
    .collect()
}

pub(crate) async fn active_sessions(
    store: &SqliteStore,
    user: Option<UserId>,
    now: i64,
) -> Result<Vec<SessionRow>, StoreError> {
    sqlx::query(
        "SELECT * FROM sessions WHERE revoked_at IS NULL AND expires_at > $1 \
           AND ($2 IS NULL OR user_id = $2) \
         ORDER BY created_at, id",
    )
    .bind(now)
    .bind(user.map(|u| u.0))
    .fetch_all(&store.reader)
    .await
    .map_err(map_err)?
    .iter()
    .map(rows::session)
    .collect()
}
