//! `Accounts` on PostgreSQL.

use securechat_proto::ids::{SessionId, UserId};
use securechat_store::error::{Conflict, Refusal};
use securechat_store::model::{
    AccountRemoval, AccountSummary, Credential, FileId, Gate, InviteRow, NewInvite, NewReset,
};
use securechat_store::{Accounts, StoreError};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;

use crate::messages::{record_removals, Removed};
use crate::streams::Streams;
use crate::{map_err, rows, sessions, PostgresStore};

/// The advisory lock that serialises "first account" registrations (an arbitrary constant:
/// "sc" "first" in ASCII).
const FIRST_ACCOUNT_LOCK: i64 = 0x0073_6366_6972_7374;

/// Passes a new account's gate inside its creating transaction (`users::create_user`).
pub(crate) async fn pass_gate(
    conn: &mut PgConnection,
    gate: Gate,
    user: UserId,
    now: i64,
) -> Result<(), StoreError> {
    match gate {
        Gate::Open => Ok(()),
        Gate::FirstAccount => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(FIRST_ACCOUNT_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
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
            let used_at: Option<Option<i64>> =
                sqlx::query_scalar("SELECT used_at FROM invites WHERE code_hash = $1")
                    .bind(&hash[..])
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map_err)?;
            Err(StoreError::Refused(match used_at {
                None => Refusal::InviteUnknown,
                Some(Some(_)) => Refusal::InviteUsed,
                Some(None) => Refusal::InviteExpired,
            }))
        }
    }
}

/// Attempts of an account deletion before it gives up (see `delete_user`).
const DELETE_ATTEMPTS: usize = 5;

/// Why one attempt at deleting an account did not finish.
enum DeleteError {
    /// The account sent to a new peer meanwhile; nothing was changed.
    PeersGrew,
    Store(StoreError),
}

impl From<StoreError> for DeleteError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The users who received the account's live messages (its peers, and the members who got
/// its group messages).
async fn live_peers(conn: &mut PgConnection, id: UserId) -> Result<Vec<UserId>, StoreError> {
    let peers: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT recipient FROM messages \
         WHERE sender = $1 AND envelope IS NOT NULL AND group_id IS NULL \
         UNION SELECT DISTINCT i.user_id FROM messages m \
         JOIN inbox i ON i.message = m.id AND i.group_id IS NOT NULL AND i.kind = 'message' \
         WHERE m.sender = $1 AND m.envelope IS NOT NULL AND m.group_id IS NOT NULL",
    )
    .bind(id.0)
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    Ok(peers.into_iter().map(UserId).collect())
}

impl PostgresStore {
    async fn try_delete_user(&self, id: UserId, now: i64) -> Result<AccountRemoval, DeleteError> {
        let mut tx = self.begin().await?;
        // The streams of the account and of every peer, in the lock order of every stream
        // writer; with the account's own stream locked, no message from it can be stored
        // until this commits, so the peers read again below are all there will be.
        let peers = live_peers(&mut tx, id).await?;
        let streams = Streams::lock(&mut tx, peers.iter().copied().chain([id])).await?;
        let again = live_peers(&mut tx, id).await?;
        if again.iter().any(|p| !peers.contains(p)) {
            tx.rollback().await?;
            return Err(DeleteError::PeersGrew);
        }
        let done = sqlx::query(
            "UPDATE users SET deleted_at = $1, password_hash = '', opaque_record = NULL, \
                 email = 'deleted-' || replace(id::text, '-', '') || '@invalid' \
             WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound.into());
        }
        let sessions = sessions::revoke_others(&mut tx, id, None, now).await?;
        let removed = sqlx::query(
            "UPDATE messages SET envelope = NULL, removed_at = $1 \
             WHERE sender = $2 AND envelope IS NOT NULL \
             RETURNING id, sender, msg_id, recipient, group_id",
        )
        .bind(now)
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?
        .iter()
        .map(Removed::from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let removals = record_removals(&mut tx, streams, removed, None, now).await?;
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
}

/// Uses up every unused reset code of an account (after its password changed by any means).
pub(crate) async fn spend_reset_codes(
    conn: &mut PgConnection,
    user: UserId,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user.0)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

fn invite(row: &PgRow) -> Result<InviteRow, StoreError> {
    let used_by: Option<uuid::Uuid> = rows::get(row, "used_by")?;
    Ok(InviteRow {
        code_hash: rows::fixed(row, "code_hash")?,
        note: rows::get(row, "note")?,
        created_at: rows::get(row, "created_at")?,
        expires_at: rows::get(row, "expires_at")?,
        used_at: rows::get(row, "used_at")?,
        used_by: used_by.map(UserId),
    })
}

#[async_trait::async_trait]
impl Accounts for PostgresStore {
    async fn create_invite(&self, invite: NewInvite) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
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
        self.tracked(result)
    }

    async fn list_invites(&self) -> Result<Vec<InviteRow>, StoreError> {
        sqlx::query("SELECT * FROM invites ORDER BY created_at DESC, code_hash")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(invite)
            .collect()
    }

    async fn create_reset(&self, reset: NewReset) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
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
        self.tracked(result)
    }

    async fn check_reset(&self, code_hash: &[u8; 32], now: i64) -> Result<UserId, StoreError> {
        let row = sqlx::query(
            "SELECT r.user_id, r.used_at, r.expires_at, u.deleted_at \
             FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.code_hash = $1",
        )
        .bind(&code_hash[..])
        .fetch_optional(&self.pool)
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
            let mut tx = self.begin().await?;
            // The account's row first, then the code's (the order of a deletion and a
            // password change, so none of them deadlocks another); of two uses of one code
            // at once, the second sees `used_at`.
            let owner: Option<uuid::Uuid> =
                sqlx::query_scalar("SELECT user_id FROM password_resets WHERE code_hash = $1")
                    .bind(&code_hash[..])
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
            if let Some(owner) = owner {
                sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            let row = sqlx::query(
                "SELECT r.user_id, r.used_at, r.expires_at, u.deleted_at \
                 FROM password_resets r JOIN users u ON u.id = r.user_id \
                 WHERE r.code_hash = $1 FOR UPDATE OF r",
            )
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
            // This code and every other unused one of the account.
            spend_reset_codes(&mut tx, user, now).await?;
            sqlx::query("UPDATE users SET password_hash = $1, opaque_record = $2 WHERE id = $3")
                .bind(credential.hash_column())
                .bind(credential.record_column())
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let revoked = sessions::revoke_others(&mut tx, user, None, now).await?;
            tx.commit().await?;
            Ok((user, revoked))
        }
        .await;
        self.tracked(result)
    }

    async fn delete_user(&self, id: UserId, now: i64) -> Result<AccountRemoval, StoreError> {
        // A message to a new peer may be stored between reading the peers and locking their
        // streams: then the transaction starts again, with that peer's stream locked too.
        for _ in 0..DELETE_ATTEMPTS {
            match self.try_delete_user(id, now).await {
                Err(DeleteError::PeersGrew) => continue,
                Err(DeleteError::Store(e)) => return self.tracked(Err(e)),
                Ok(removal) => return self.tracked(Ok(removal)),
            }
        }
        Err(StoreError::Other(
            "the account kept sending to new peers while it was being deleted; try again".into(),
        ))
    }

    async fn has_accounts(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn delete_dead_codes(&self, cutoff: i64) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.begin().await?;
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
        self.tracked(result)
    }

    async fn disable_user(&self, id: UserId, now: i64) -> Result<Vec<SessionId>, StoreError> {
        let result = self.disable(id, now).await;
        self.tracked(result)
    }

    async fn enable_user(&self, id: UserId) -> Result<bool, StoreError> {
        let result = self.enable(id).await;
        self.tracked(result)
    }

    async fn account_summaries(&self, now: i64) -> Result<Vec<AccountSummary>, StoreError> {
        self.summaries(now).await
    }

    async fn users_signed_in_from(&self, ip: &str, now: i64) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT user_id) FROM sessions \
             WHERE ip = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(ip)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// Whose usable code this is, or why it may not be used.
fn judge_reset(row: Option<&PgRow>, now: i64) -> Result<UserId, StoreError> {
    let Some(row) = row else {
        return Err(StoreError::Refused(Refusal::ResetUnknown));
    };
    let used: Option<i64> = rows::get(row, "used_at")?;
    let expires: i64 = rows::get(row, "expires_at")?;
    let deleted: Option<i64> = rows::get(row, "deleted_at")?;
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
