//! `Users` on PostgreSQL. Changes to an existing account (key publishing, password change)
//! lock its row first, so concurrent changes of one account take turns.

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::keys::KeyStatus;
use securechat_store::error::Conflict;
use securechat_store::model::{Credential, EncryptionKeyRow, NewUser, UserListing, UserRow};
use securechat_store::{StoreError, Users};
use sqlx::PgConnection;

use crate::{map_err, rows, sessions, PostgresStore};

async fn insert_key(
    conn: &mut PgConnection,
    user: UserId,
    key: &EncryptionKeyRow,
    status: KeyStatus,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO encryption_keys (user_id, key_id, x25519, created_at, binding_sig, status) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.0)
    .bind(&key.key_id[..])
    .bind(&key.x25519[..])
    .bind(key.created_at)
    .bind(&key.binding_sig[..])
    .bind(status.as_str())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Locks an account's row until the transaction ends; `NotFound` when there is none.
async fn lock_user(conn: &mut PgConnection, id: UserId) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(conn)
        .await
        .map_err(map_err)?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

/// Why `key` may not be published after the `published` ones (key id, created_at), if so.
fn key_refusal(published: &[(Vec<u8>, i64)], key: &EncryptionKeyRow) -> Option<Conflict> {
    if published.iter().any(|(id, _)| id[..] == key.key_id[..]) {
        Some(Conflict::EncryptionKey)
    } else if published.iter().any(|&(_, at)| at >= key.created_at) {
        Some(Conflict::KeyOrder)
    } else {
        None
    }
}

#[async_trait::async_trait]
impl Users for PostgresStore {
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
            crate::accounts::pass_gate(&mut tx, user.gate, user.id, user.created_at).await?;
            sqlx::query(
                "INSERT INTO users (id, username, email, password_hash, opaque_record, identity_key, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(user.id.0)
            .bind(&user.username)
            .bind(&user.email)
            .bind(user.credential.hash_column())
            .bind(user.credential.record_column())
            .bind(&user.identity_key[..])
            .bind(user.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("INSERT INTO streams (user_id) VALUES ($1)")
                .bind(user.id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_key(&mut tx, user.id, &user.first_key, KeyStatus::Active).await?;
            tx.commit().await
        }
        .await;
        self.tracked(result)
    }

    async fn find_user_by_login(&self, login: &str) -> Result<Option<UserRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM users WHERE (username = $1 OR email = $1) AND deleted_at IS NULL",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserListing>, StoreError> {
        sqlx::query(
            "SELECT id, username, deleted_at IS NOT NULL AS deleted FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::listing)
        .collect()
    }

    async fn change_password(
        &self,
        id: UserId,
        credential: &Credential,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let result: Result<Vec<SessionId>, StoreError> = async {
            let mut tx = self.begin().await?;
            lock_user(&mut tx, id).await?;
            let done = sqlx::query(
                "UPDATE users SET password_hash = $1, opaque_record = $2 \
                 WHERE id = $3 AND deleted_at IS NULL",
            )
            .bind(credential.hash_column())
            .bind(credential.record_column())
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if done.rows_affected() == 0 {
                // Deleted: its credential stays forgotten.
                tx.rollback().await?;
                return Err(StoreError::NotFound);
            }
            let revoked = sessions::revoke_others(&mut tx, id, keep, now).await?;
            crate::accounts::spend_reset_codes(&mut tx, id, now).await?;
            tx.commit().await?;
            Ok(revoked)
        }
        .await;
        self.tracked(result)
    }

    async fn upgrade_to_opaque(
        &self,
        id: UserId,
        expected_hash: &str,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE users SET password_hash = '', opaque_record = $1 \
             WHERE id = $2 AND deleted_at IS NULL AND opaque_record IS NULL \
               AND password_hash = $3 AND password_hash <> ''",
        )
        .bind(record)
        .bind(id.0)
        .bind(expected_hash)
        .execute(&self.pool)
        .await
        .map_err(map_err);
        self.tracked(result).map(|done| done.rows_affected() == 1)
    }

    async fn list_keys(&self, id: UserId) -> Result<Vec<EncryptionKeyRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM encryption_keys WHERE user_id = $1 ORDER BY created_at, position",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::key)
        .collect()
    }

    async fn add_key(&self, id: UserId, key: EncryptionKeyRow) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
            lock_user(&mut tx, id).await?;
            let published: Vec<(Vec<u8>, i64)> =
                sqlx::query_as("SELECT key_id, created_at FROM encryption_keys WHERE user_id = $1")
                    .bind(id.0)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
            if let Some(conflict) = key_refusal(&published, &key) {
                tx.rollback().await?;
                return Err(StoreError::Conflict(conflict));
            }
            sqlx::query(
                "UPDATE encryption_keys SET status = 'retired' \
                 WHERE user_id = $1 AND status = 'active'",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            insert_key(&mut tx, id, &key, KeyStatus::Active).await?;
            tx.commit().await
        }
        .await;
        self.tracked(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u8, created_at: i64) -> EncryptionKeyRow {
        EncryptionKeyRow {
            key_id: [id; 8],
            x25519: [0; 32],
            created_at,
            binding_sig: [0; 64],
            status: KeyStatus::Active,
        }
    }

    #[test]
    fn a_key_must_be_new_and_newer_than_every_published_one() {
        let published = vec![(vec![1; 8], 10), (vec![2; 8], 20)];
        assert_eq!(key_refusal(&published, &key(3, 21)), None);
        assert_eq!(
            key_refusal(&published, &key(2, 30)),
            Some(Conflict::EncryptionKey)
        );
        assert_eq!(
            key_refusal(&published, &key(3, 20)),
            Some(Conflict::KeyOrder)
        );
        assert_eq!(
            key_refusal(&published, &key(3, 15)),
            Some(Conflict::KeyOrder)
        );
        assert_eq!(key_refusal(&[], &key(3, 0)), None);
    }
}
