//! `Users` on SQLite.

use securechat_proto::ids::UserId;
use securechat_store::model::{EncryptionKeyRow, NewUser, UserListing, UserRow};
use securechat_store::{StoreError, Users};

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
            sqlx::query(
                "INSERT INTO users (id, username, email, password_hash, identity_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(user.id.0)
            .bind(&user.username)
            .bind(&user.email)
            .bind(&user.password_hash)
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
        sqlx::query("SELECT * FROM users WHERE username = $1 OR email = $1")
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
        sqlx::query("SELECT id, username FROM users ORDER BY username")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::listing)
            .collect()
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
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
