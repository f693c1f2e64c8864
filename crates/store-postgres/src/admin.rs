//! What operators do to accounts on PostgreSQL (`securechat admin`): disabling and enabling
//! them, and the listing of accounts. Disabling updates the account's row before it revokes
//! the sessions, the order of a deletion and a password change; a login holds the row
//! shared (`sessions::create_session`), so it either commits first (and its session is
//! revoked here) or sees the account disabled.

use securechat_proto::ids::{SessionId, UserId};
use securechat_store::model::AccountSummary;
use securechat_store::StoreError;

use crate::{map_err, rows, sessions, PostgresStore};

impl PostgresStore {
    pub(crate) async fn disable(&self, id: UserId, now: i64) -> Result<Vec<SessionId>, StoreError> {
        let mut tx = self.begin().await?;
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
        let revoked = sessions::revoke_others(&mut tx, id, None, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    pub(crate) async fn enable(&self, id: UserId) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let disabled: Option<bool> = sqlx::query_scalar(
            "SELECT disabled_at IS NOT NULL FROM users \
             WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
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

    pub(crate) async fn summaries(&self, now: i64) -> Result<Vec<AccountSummary>, StoreError> {
        sqlx::query(
            "SELECT u.id, u.username, u.created_at, u.deleted_at, u.disabled_at, \
               (SELECT MAX(l.last_login_at) FROM login_sources l WHERE l.user_id = u.id) \
                 AS last_login, \
               (SELECT MAX(r.created_at) FROM refresh_tokens r \
                  JOIN sessions s ON s.id = r.session_id WHERE s.user_id = u.id) \
                 AS last_refresh, \
               (SELECT COUNT(*) FROM sessions s \
                  WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > $1) \
                 AS active_sessions \
             FROM users u ORDER BY u.username",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| {
            let active: i64 = rows::get(row, "active_sessions")?;
            Ok(AccountSummary {
                id: rows::user_id(row, "id")?,
                username: rows::get(row, "username")?,
                created_at: rows::get(row, "created_at")?,
                deleted_at: rows::get(row, "deleted_at")?,
                disabled_at: rows::get(row, "disabled_at")?,
                last_seen: Option::max(
                    rows::get(row, "last_login")?,
                    rows::get(row, "last_refresh")?,
                ),
                active_sessions: u64::try_from(active).unwrap_or(0),
            })
        })
        .collect()
    }
}
