//! `Sessions` on SQLite.

use securechat_proto::ids::{SessionId, UserId};
use securechat_store::error::Conflict;
use securechat_store::model::{Admission, IpLimits, NewSession, RefreshOutcome, SessionRow};
use securechat_store::{Sessions, StoreError};
use sqlx::{Row as _, SqliteConnection};
use uuid::Uuid;

use crate::{map_err, rows, SqliteStore};

/// Revokes every active session of `user` except `keep`; returns the revoked ids.
pub(crate) async fn revoke_all_but(
    conn: &mut SqliteConnection,
    user: UserId,
    keep: Option<SessionId>,
    now: i64,
) -> Result<Vec<SessionId>, StoreError> {
    // A nil UUID never names a session, so it stands for "keep none".
    let keep = keep.map_or(Uuid::nil(), |s| s.0);
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE user_id = $2 AND id != $3 AND revoked_at IS NULL AND expires_at > $1 \
         RETURNING id",
    )
    .bind(now)
    .bind(user.0)
    .bind(keep)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| row.try_get::<Uuid, _>("id").map(SessionId).map_err(map_err))
    .collect()
}

/// The IP rule's verdict on one more session of `session.user_id` from `session.ip`, read
/// inside the write transaction that would store it.
async fn admission(
    conn: &mut SqliteConnection,
    session: &NewSession,
    limits: IpLimits,
) -> Result<Admission, StoreError> {
    let now = session.created_at;
    let ips: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT ip FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         UNION SELECT $3)",
    )
    .bind(session.user_id.0)
    .bind(now)
    .bind(&session.ip)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(refusal) = limits.judge_ips(usize::try_from(ips).unwrap_or(usize::MAX)) {
        return Ok(refusal);
    }
    let users: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT user_id FROM sessions \
             WHERE ip = $1 AND revoked_at IS NULL AND expires_at > $2 \
         UNION SELECT $3)",
    )
    .bind(&session.ip)
    .bind(now)
    .bind(session.user_id.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(limits
        .judge_users(usize::try_from(users).unwrap_or(usize::MAX))
        .unwrap_or(Admission::Admitted))
}

#[async_trait::async_trait]
impl Sessions for SqliteStore {
    async fn create_session(
        &self,
        session: NewSession,
        limits: Option<IpLimits>,
    ) -> Result<Admission, StoreError> {
        let result: Result<Admission, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            if let Some(refusal) = crate::admin::login_refusal(&mut tx, session.user_id).await? {
                tx.rollback().await?;
                return Err(refusal);
            }
            let taken: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)")
                    .bind(session.id.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
            if taken {
                tx.rollback().await?;
                return Err(StoreError::Conflict(Conflict::Session));
            }
            if let Some(limits) = limits {
                let verdict = admission(&mut tx, &session, limits).await?;
                if verdict != Admission::Admitted {
                    tx.rollback().await?;
                    return Ok(verdict);
                }
            }
            sqlx::query(
                "INSERT INTO sessions (id, user_id, ip, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(session.id.0)
            .bind(session.user_id.0)
            .bind(&session.ip)
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(&session.refresh_hash[..])
            .bind(session.id.0)
            .bind(session.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "INSERT INTO login_sources (user_id, ip, last_login_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, ip) DO UPDATE SET last_login_at = excluded.last_login_at",
            )
            .bind(session.user_id.0)
            .bind(&session.ip)
            .bind(session.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("DELETE FROM login_sources WHERE user_id = $1 AND last_login_at < $2")
                .bind(session.user_id.0)
                .bind(session.forget_sources_before)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await?;
            Ok(Admission::Admitted)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<SessionRow>, StoreError> {
        sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.reader)
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
            let mut tx = self.writer.begin().await?;
            let found = sqlx::query(
                "SELECT r.rotated_at, r.successor, \
                 (SELECT n.rotated_at IS NULL FROM refresh_tokens n WHERE n.hash = r.successor) \
                   AS successor_current, \
                 s.* FROM refresh_tokens r \
                 JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1",
            )
            .bind(&presented[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some(row) = found else {
                tx.rollback().await?;
                return Ok(RefreshOutcome::Invalid);
            };
            let session = rows::session(&row)?;
            let rotated_at: Option<i64> = row.try_get("rotated_at").map_err(map_err)?;
            if !session.is_active(now) {
                tx.rollback().await?;
                return Ok(RefreshOutcome::Invalid);
            }
            if let Some(rotated_at) = rotated_at {
                let successor: Option<Vec<u8>> = row.try_get("successor").map_err(map_err)?;
                let successor_current: Option<bool> =
                    row.try_get("successor_current").map_err(map_err)?;
                let repeat = now - rotated_at < grace_ms
                    && successor.as_deref() == Some(&new_hash[..])
                    && successor_current == Some(true);
                if repeat {
                    tx.rollback().await?;
                    return Ok(RefreshOutcome::Rotated {
                        session: session.id,
                        user: session.user_id,
                    });
                }
                sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(session.id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused {
                    session: session.id,
                    user: session.user_id,
                });
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
            .bind(session.id.0)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
                .bind(new_expires_at)
                .bind(session.id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated {
                session: session.id,
                user: session.user_id,
            })
        }
        .await;
        self.writer.tracked(result)
    }

    async fn is_known_source(
        &self,
        user: UserId,
        ip: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM login_sources WHERE user_id = $1 AND ip = $2 AND last_login_at >= $3",
        )
        .bind(user.0)
        .bind(ip)
        .bind(since)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool, StoreError> {
        let result: Result<bool, StoreError> = async {
            let mut tx = self.writer.begin().await?;
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
        self.writer.tracked(result)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let result: Result<Vec<SessionId>, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let revoked = revoke_all_but(&mut tx, user, keep, now).await?;
            tx.commit().await?;
            Ok(revoked)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.try_get("id").map_err(map_err)?;
                let at: i64 = row.try_get("revoked_at").map_err(map_err)?;
                Ok((SessionId(id), at))
            })
            .collect()
    }

    async fn delete_dead_sessions(
        &self,
        expired_before: i64,
        revoked_before: i64,
    ) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let done = sqlx::query(
                "DELETE FROM sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $2)",
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
        self.writer.tracked(result)
    }

    async fn active_sessions(
        &self,
        user: Option<UserId>,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        crate::admin::active_sessions(self, user, now).await
    }

    async fn count_active_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
