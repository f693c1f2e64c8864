//! `Users` on SQLite.

use securechat_proto::ids::{SessionId, UserId};
use securechat_store::error::Conflict;
use securechat_store::model::{Credential, EncryptionKeyRow, NewUser, UserListing, UserRow};
use securechat_store::{StoreError, Users};
use sqlx::Row as _;

use crate::{map_err, rows, SqliteStore};

const INSERT_KEY: &str = "INSERT INTO encryption_keys \
    (user_id, key_id, x25519, created_at, binding_sig, status) VALUES ($1, $2, $3, $4, $5, $6)";

async fn insert_key(
    conn: &mut sqlx::SqliteConnection,
    user: UserId,
    key: &EncryptionKeyRow,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_KEY)
        .bind(user.0)
        .bind(&key.key_id[..])
        .bind(&key.x25519[..])
        .bind(key.created_at)
        .bind(&key.binding_sig[..])
        .bind(key.status.as_str())
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

#[async_trait::async_trait]
impl Users for SqliteStore {
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            // The gate first: a stranger without a valid invitation learns nothing about
            // which names and addresses are taken.
            if let Err(e) =
                crate::accounts::pass_gate(&mut tx, user.gate, user.id, user.created_at).await
            {
                tx.rollback().await?;
                return Err(e);
            }
            // Which rule a taken account breaks is read here, under the write lock, rather
            // than from the text of a constraint error.
            let taken = sqlx::query(
                "SELECT id = $1 AS id, username = $2 AS username, email = $3 AS email \
                 FROM users WHERE id = $1 OR username = $2 OR email = $3 OR identity_key = $4 \
                 LIMIT 1",
            )
            .bind(user.id.0)
            .bind(&user.username)
            .bind(&user.email)
            .bind(&user.identity_key[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            if let Some(row) = taken {
                tx.rollback().await?;
                let is = |column: &str| row.try_get::<bool, _>(column).map_err(map_err);
                return Err(StoreError::Conflict(if is("id")? {
                    Conflict::UserId
                } else if is("username")? {
                    Conflict::Username
                } else if is("email")? {
                    Conflict::Email
                } else {
                    Conflict::IdentityKey
                }));
            }
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
            insert_key(&mut tx, user.id, &user.first_key).await?;
            tx.commit().await
        }
        .await;
        self.writer.tracked(result)
    }

    async fn find_user_by_login(&self, login: &str) -> Result<Option<UserRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM users WHERE (username = $1 OR email = $1) AND deleted_at IS NULL",
        )
        .bind(login)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.reader)
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
        .fetch_all(&self.reader)
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
            let mut tx = self.writer.begin().await?;
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
                tx.rollback().await?;
                return Err(StoreError::NotFound);
            }
            let revoked = crate::sessions::revoke_all_but(&mut tx, id, keep, now).await?;
            crate::accounts::spend_reset_codes(&mut tx, id, now).await?;
            tx.commit().await?;
            Ok(revoked)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn upgrade_to_opaque(
        &self,
        id: UserId,
        expected_hash: &str,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        let result: Result<bool, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let done = sqlx::query(
                "UPDATE users SET password_hash = '', opaque_record = $1 \
                 WHERE id = $2 AND deleted_at IS NULL AND opaque_record IS NULL \
                   AND password_hash = $3 AND password_hash <> ''",
            )
            .bind(record)
            .bind(id.0)
            .bind(expected_hash)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn list_keys(&self, id: UserId) -> Result<Vec<EncryptionKeyRow>, StoreError> {
        sqlx::query("SELECT * FROM encryption_keys WHERE user_id = $1 ORDER BY created_at, rowid")
            .bind(id.0)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::key)
            .collect()
    }

    async fn add_key(&self, id: UserId, key: EncryptionKeyRow) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let clash = sqlx::query(
                "SELECT key_id = $2 AS same_id FROM encryption_keys \
                 WHERE user_id = $1 AND (key_id = $2 OR created_at >= $3) \
                 ORDER BY key_id = $2 DESC LIMIT 1",
            )
            .bind(id.0)
            .bind(&key.key_id[..])
            .bind(key.created_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            if let Some(row) = clash {
                tx.rollback().await?;
                let same_id: bool = row.try_get("same_id").map_err(map_err)?;
                return Err(StoreError::Conflict(if same_id {
                    Conflict::EncryptionKey
                } else {
                    Conflict::KeyOrder
                }));
            }
            sqlx::query("UPDATE encryption_keys SET status = 'retired' WHERE user_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_key(&mut tx, id, &key).await?;
            tx.commit().await
        }
        .await;
        self.writer.tracked(result)
    }
}
