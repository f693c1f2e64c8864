//! `Accounts` on SQLite.

use securechat_proto::ids::{SessionId, UserId};
use securechat_store::error::{Conflict, Refusal};
use securechat_store::model::{
    AccountRemoval, AccountSummary, Credential, FileId, Gate, InviteRow, NewInvite, NewReset,
};
use securechat_store::{Accounts, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, SqliteConnection};

use crate::{map_err, rows, SqliteStore};

/// Passes a new account's gate inside its creating transaction (`users::create_user`).
pub(crate) async fn pass_gate(
    conn: &mut SqliteConnection,
    gate: Gate,
    user: UserId,
    now: i64,
) -> Result<(), StoreError> {
    match gate {
        Gate::Open => Ok(()),
        Gate::FirstAccount => {
            let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
            if any {
                Err(StoreError::Refused(Refusal::NotFirstAccount))
            } else {
                Ok(())
            }
        }
        Gate::Invite(hash) => {
            let used = sqlx::query(
                "UPDATE invites SET used_at = $1, used_by = $2 \
                 WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(user.0)
            .bind(&hash[..])
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            if used.rows_affected() == 1 {
                return Ok(());
            }
            let row = sqlx::query("SELECT used_at FROM invites WHERE code_hash = $1")
                .bind(&hash[..])
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_err)?;
            Err(StoreError::Refused(match row {
                None => Refusal::InviteUnknown,
                Some(r) => match r.try_get::<Option<i64>, _>("used_at").map_err(map_err)? {
                    Some(_) => Refusal::InviteUsed,
                    None => Refusal::InviteExpired,
                },
            }))
        }
    }
}

/// The deleted accounts (few; read through the partial index `users_deleted`).
pub(crate) async fn deleted_users(
    conn: &mut SqliteConnection,
) -> Result<std::collections::HashSet<UserId>, StoreError> {
    sqlx::query("SELECT id FROM users WHERE deleted_at IS NOT NULL")
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| rows::user_id(r, "id"))
        .collect()
}

/// Uses up every unused reset code of an account (after its password changed by any means).
pub(crate) async fn spend_reset_codes(
    conn: &mut SqliteConnection,
    user: UserId,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

fn invite(row: &SqliteRow) -> Result<InviteRow, StoreError> {
    let used_by: Option<uuid::Uuid> = row.try_get("used_by").map_err(map_err)?;
    Ok(InviteRow {
        code_hash: rows::fixed(row, "code_hash")?,
        note: row.try_get("note").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
        used_at: row.try_get("used_at").map_err(map_err)?,
        used_by: used_by.map(UserId),
    })
}

#[async_trait::async_trait]
impl Accounts for SqliteStore {
    async fn create_invite(&self, invite: NewInvite) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let done = sqlx::query(
                "INSERT INTO invites (code_hash, note, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&invite.code_hash[..])
            .bind(&invite.note)
            .bind(invite.created_at)
            .bind(invite.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(Conflict::Code));
            }
            tx.commit().await
        }
        .await;
        self.writer.tracked(result)
    }

    async fn list_invites(&self) -> Result<Vec<InviteRow>, StoreError> {
        sqlx::query("SELECT * FROM invites ORDER BY created_at DESC, code_hash")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(invite)
            .collect()
    }

    async fn create_reset(&self, reset: NewReset) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let done = sqlx::query(
                "INSERT INTO password_resets (code_hash, user_id, created_at, expires_at) \
                 SELECT $1, id, $3, $4 FROM users WHERE id = $2 AND deleted_at IS NULL \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&reset.code_hash[..])
            .bind(reset.user.0)
            .bind(reset.created_at)
            .bind(reset.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(StoreError::NotFound);
            }
            tx.commit().await
        }
        .await;
        self.writer.tracked(result)
    }

    async fn check_reset(&self, code_hash: &[u8; 32], now: i64) -> Result<UserId, StoreError> {
        let row = sqlx::query(RESET_QUERY)
            .bind(&code_hash[..])
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        judge_reset(row.as_ref(), now)
    }

    async fn reset_password(
        &self,
        code_hash: &[u8; 32],
        credential: &Credential,
        now: i64,
    ) -> Result<(UserId, Vec<SessionId>), StoreError> {
        let result: Result<(UserId, Vec<SessionId>), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let row = sqlx::query(RESET_QUERY)
                .bind(&code_hash[..])
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            let user = match judge_reset(row.as_ref(), now) {
                Ok(user) => user,
                Err(refused) => {
                    tx.rollback().await?;
                    return Err(refused);
                }
            };
            // This code and every other unused one of the account: an older link read later
            // must not change the password again.
            spend_reset_codes(&mut tx, user, now).await?;
            sqlx::query("UPDATE users SET password_hash = $1, opaque_record = $2 WHERE id = $3")
                .bind(credential.hash_column())
                .bind(credential.record_column())
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let revoked = crate::sessions::revoke_all_but(&mut tx, user, None, now).await?;
            tx.commit().await?;
            Ok((user, revoked))
        }
        .await;
        self.writer.tracked(result)
    }

    async fn delete_user(&self, id: UserId, now: i64) -> Result<AccountRemoval, StoreError> {
        let result: Result<AccountRemoval, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let done = sqlx::query(
                "UPDATE users SET deleted_at = $1, password_hash = '', opaque_record = NULL, \
                     email = 'deleted-' || lower(hex(id)) || '@invalid' \
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
            let sessions = crate::sessions::revoke_all_but(&mut tx, id, None, now).await?;
            let sent = sqlx::query(
                "UPDATE messages SET envelope = NULL, removed_at = $1 \
                 WHERE sender = $2 AND envelope IS NOT NULL \
                 RETURNING id, sender, msg_id, recipient, group_id",
            )
            .bind(now)
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            let mut removals = Vec::with_capacity(sent.len());
            for row in &sent {
                removals.push(crate::messages::record_removal(&mut tx, row, None, now).await?);
            }
            let files = sqlx::query("DELETE FROM files WHERE uploader = $1 RETURNING id")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?
                .iter()
                .map(|r| rows::fixed::<16>(r, "id"))
                .collect::<Result<Vec<FileId>, _>>()?;
            for statement in [
                "DELETE FROM password_resets WHERE user_id = $1",
                "DELETE FROM login_sources WHERE user_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            tx.commit().await?;
            Ok(AccountRemoval {
                sessions,
                removals,
                files,
            })
        }
        .await;
        self.writer.tracked(result)
    }

    async fn has_accounts(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)
    }

    async fn delete_dead_codes(&self, cutoff: i64) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let mut deleted = 0;
            for statement in [
                "DELETE FROM invites WHERE expires_at < $1 OR used_at < $1",
                "DELETE FROM password_resets WHERE expires_at < $1 OR used_at < $1",
            ] {
                deleted += sqlx::query(statement)
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(deleted)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn disable_user(&self, id: UserId, now: i64) -> Result<Vec<SessionId>, StoreError> {
        self.writer
            .tracked(crate::admin::disable_user(self, id, now).await)
    }

    async fn enable_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.writer
            .tracked(crate::admin::enable_user(self, id).await)
    }

    async fn account_summaries(&self, now: i64) -> Result<Vec<AccountSummary>, StoreError> {
        crate::admin::account_summaries(self, now).await
    }

    async fn users_signed_in_from(&self, ip: &str, now: i64) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT user_id) FROM sessions \
             WHERE ip = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(ip)
        .bind(now)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// A reset code with what decides whether it may be used.
const RESET_QUERY: &str = "SELECT r.user_id, r.used_at, r.expires_at, u.deleted_at \
     FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.code_hash = $1";

/// Whose usable code this is, or why it may not be used.
fn judge_reset(row: Option<&SqliteRow>, now: i64) -> Result<UserId, StoreError> {
    let Some(row) = row else {
        return Err(StoreError::Refused(Refusal::ResetUnknown));
    };
    let used: Option<i64> = row.try_get("used_at").map_err(map_err)?;
    let expires: i64 = row.try_get("expires_at").map_err(map_err)?;
    let deleted: Option<i64> = row.try_get("deleted_at").map_err(map_err)?;
    let refusal = if deleted.is_some() {
        Some(Refusal::ResetUnknown)
    } else if used.is_some() {
        Some(Refusal::ResetUsed)
    } else if expires <= now {
        Some(Refusal::ResetExpired)
    } else {
        None
    };
    match refusal {
        Some(refusal) => Err(StoreError::Refused(refusal)),
        None => rows::user_id(row, "user_id"),
    }
}
