//! `Files` on SQLite.

use securechat_store::model::{FileId, FileRow};
use securechat_store::{Files, StoreError};

use crate::{map_err, rows, SqliteStore};

#[async_trait::async_trait]
impl Files for SqliteStore {
    async fn create_file(&self, file: FileRow) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            sqlx::query(
                "INSERT INTO files (id, uploader, recipient, size, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&file.id[..])
            .bind(file.uploader.0)
            .bind(file.recipient.0)
            .bind(i64::try_from(file.size).unwrap_or(i64::MAX))
            .bind(file.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.writer.tracked(result)
    }

    async fn get_file(&self, id: FileId) -> Result<Option<FileRow>, StoreError> {
        sqlx::query("SELECT * FROM files WHERE id = $1")
            .bind(&id[..])
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::file)
            .transpose()
    }
}
