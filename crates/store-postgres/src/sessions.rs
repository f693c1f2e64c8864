//! `Sessions` on PostgreSQL.

use securechat_proto::ids::{SessionId, UserId};
use securechat_store::error::{Conflict, Refusal};
use securechat_store::model::{Admission, IpLimits, NewSession, RefreshOutcome, SessionRow};
use securechat_store::{Sessions, StoreError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{admission, map_err, rows, PostgresStore};

/// Revokes every active session of `user` except `keep`; returns the revoked ids.
pub(crate) async fn revoke_others(
    conn: &mut PgConnection,
    user: UserId,
    keep: Option<SessionId>,
    now: i64,
) -> Result<Vec<SessionId>, StoreError> {
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE user_id = $2 AND id IS DISTINCT FROM $3 AND revoked_at IS NULL \
           AND expires_at > $1 \
         RETURNING id",
    )
    .bind(now)
    .bind(user.0)
    .bind(keep.map(|s| s.0))
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    Ok(revoked.into_iter().map(SessionId).collect())
}

/// Stores a session, its first refresh token and its login source.
async fn insert_session(conn: &mut PgConnection, session: &NewSession) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO sessions (id, user_id, ip, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(session.id.0)
    .bind(session.user_id.0)
    .bind(&session.ip)
    .bind(session.created_at)
    .bind(session.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if inserted.rows_affected() == 0 {
        // The caller's transaction rolls back: nothing of this login is stored.
        return Err(StoreError::Conflict(Conflict::Session));
    }
    sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
        .bind(&session.refresh_hash[..])
        .bind(session.id.0)
        .bind(session.created_at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO login_sources (user_id, ip, last_login_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, ip) DO UPDATE SET last_login_at = excluded.last_login_at",
    )
    .bind(session.user_id.0)
    .bind(&session.ip)
    .bind(session.created_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query("DELETE FROM login_sources WHERE user_id = $1 AND last_login_at < $2")
        .bind(session.user_id.0)
        .bind(session.forget_sources_before)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

#[async_trait::async_trait]
impl Sessions for PostgresStore {
    async fn create_session(
        &self,
        session: NewSession,
        limits: Option<IpLimits>,
    ) -> Result<Admission, StoreError> {
        let result: Result<Admission, StoreError> = async {
            let mut tx = self.begin().await?;
            // The account's row, shared: a deletion (which updates it) waits for this login
            // or comes first, and then the login gets no session.
            // A disabling (which updates the row too) likewise.
            let state: Option<(bool, bool)> = sqlx::query_as(
                "SELECT deleted_at IS NULL, disabled_at IS NOT NULL FROM users \
                 WHERE id = $1 FOR SHARE",
            )
            .bind(session.user_id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let refusal = match state {
                Some((true, false)) => None,
                Some((true, true)) => Some(StoreError::Refused(Refusal::AccountDisabled)),
                _ => Some(StoreError::NotFound),
            };
            if let Some(refusal) = refusal {
                tx.rollback().await?;
                return Err(refusal);
            }
            admission::lock(&mut tx, &session).await?;
            if let Some(limits) = limits {
                let admission = admission::check(&mut tx, &session, limits).await?;
                if admission != Admission::Admitted {
                    tx.rollback().await?;
                    return Ok(admission);
                }
            }
            insert_session(&mut tx, &session).await?;
            tx.commit().await?;
            Ok(Admission::Admitted)
        }
        .await;
        self.tracked(result)
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<SessionRow>, StoreError> {
        sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::session)
            .transpose()
    }

    async fn rotate_refresh(
        &self,
        presented: [u8; 32],
        new_hash: [u8; 32],
        now: i64,
        new_expires_at: i64,
        grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let result: Result<RefreshOutcome, StoreError> = async {
            let mut tx = self.begin().await?;
            // The compare-and-swap: the token's row is locked before it is judged, so of two
            // concurrent presentations the second waits and then sees the first's rotation.
            let token: Option<(Uuid, Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(
                "SELECT session_id, rotated_at, successor FROM refresh_tokens \
                 WHERE hash = $1 FOR UPDATE",
            )
            .bind(&presented[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some((session_id, rotated_at, successor)) = token else {
                tx.rollback().await?;
                return Ok(RefreshOutcome::Invalid);
            };
            let session = sqlx::query("SELECT * FROM sessions WHERE id = $1")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
                .as_ref()
                .map(rows::session)
                .transpose()?;
            let Some(session) = session.filter(|s| s.is_active(now)) else {
                tx.rollback().await?;
                return Ok(RefreshOutcome::Invalid);
            };
            let (id, user) = (session.id, session.user_id);
            if let Some(rotated_at) = rotated_at {
                let successor_current: Option<bool> = match &successor {
                    Some(next) => sqlx::query_scalar(
                        "SELECT rotated_at IS NULL FROM refresh_tokens WHERE hash = $1",
                    )
                    .bind(next)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?,
                    None => None,
                };
                let repeat = now - rotated_at < grace_ms
                    && successor.as_deref() == Some(&new_hash[..])
                    && successor_current == Some(true);
                if repeat {
                    tx.rollback().await?;
                    return Ok(RefreshOutcome::Rotated { session: id, user });
                }
                sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused { session: id, user });
            }
            sqlx::query(
                "UPDATE refresh_tokens SET rotated_at = $1, successor = $2 WHERE hash = $3",
            )
            .bind(now)
            .bind(&new_hash[..])
            .bind(&presented[..])
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(&new_hash[..])
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
                .bind(new_expires_at)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated { session: id, user })
        }
        .await;
        self.tracked(result)
    }

    async fn is_known_source(
        &self,
        user: UserId,
        ip: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM login_sources WHERE user_id = $1 AND ip = $2 AND last_login_at >= $3",
        )
        .bind(user.0)
        .bind(ip)
        .bind(since)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool, StoreError> {
        let result: Result<bool, StoreError> = async {
            let mut tx = self.begin().await?;
            let done = sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        }
        .await;
        self.tracked(result)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let result: Result<Vec<SessionId>, StoreError> = async {
            let mut tx = self.begin().await?;
            let revoked = revoke_others(&mut tx, user, keep, now).await?;
            tx.commit().await?;
            Ok(revoked)
        }
        .await;
        self.tracked(result)
    }

    async fn revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>, StoreError> {
        let found: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found
            .into_iter()
            .map(|(id, at)| (SessionId(id), at))
            .collect())
    }

    async fn delete_dead_sessions(
        &self,
        expired_before: i64,
        revoked_before: i64,
    ) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.begin().await?;
            // Their refresh tokens go with them (ON DELETE CASCADE).
            let done = sqlx::query(
                "DELETE FROM sessions \
                 WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $2)",
            )
            .bind(expired_before)
            .bind(revoked_before)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }
        .await;
        self.tracked(result)
    }

    async fn active_sessions(
        &self,
        user: Option<UserId>,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM sessions WHERE revoked_at IS NULL AND expires_at > $1 \
               AND ($2::uuid IS NULL OR user_id = $2) \
             ORDER BY created_at, id",
        )
        .bind(now)
        .bind(user.map(|u| u.0))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::session)
        .collect()
    }

    async fn count_active_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
