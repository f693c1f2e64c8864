//! `Files` on PostgreSQL.

use securechat_store::model::{FileId, FileRow};
use securechat_store::{Files, StoreError};

use crate::{map_err, rows, PostgresStore};

#[async_trait::async_trait]
impl Files for PostgresStore {
    async fn create_file(&self, file: FileRow) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO files (id, uploader, recipient, size, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&file.id[..])
            .bind(file.uploader.0)
            .bind(file.recipient.0)
            .bind(rows::sql_int(file.size))
            .bind(file.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await
        }
        .await;
        self.tracked(result)
    }

    async fn get_file(&self, id: FileId) -> Result<Option<FileRow>, StoreError> {
        sqlx::query("SELECT * FROM files WHERE id = $1")
            .bind(&id[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::file)
            .transpose()
    }
}
