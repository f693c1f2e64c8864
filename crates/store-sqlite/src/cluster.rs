//! The node registry on SQLite. One database file has one node in practice (several
//! processes on one file share its lock), so every process leads background work: each job
//! is safe to run twice.

use sqlx::Row as _;

use securechat_store::cluster::{Cluster, NodeRecord};
use securechat_store::StoreError;

use crate::{map_err, SqliteStore};

#[async_trait::async_trait]
impl Cluster for SqliteStore {
    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            sqlx::query(
                "INSERT INTO nodes (id, settings, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, seen_at = excluded.seen_at",
            )
            .bind(&node.id)
            .bind(&node.settings)
            .bind(node.seen_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.writer.tracked(result)
    }

    async fn live_nodes(&self, live_after: i64) -> Result<Vec<NodeRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, settings, seen_at FROM nodes WHERE seen_at >= $1 ORDER BY id")
                .bind(live_after)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(NodeRecord {
                    id: row.try_get("id").map_err(map_err)?,
                    settings: row.try_get("settings").map_err(map_err)?,
                    seen_at: row.try_get("seen_at").map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn leave_cluster(&self, node_id: &str) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            sqlx::query("DELETE FROM nodes WHERE id = $1")
                .bind(node_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.writer.tracked(result)
    }

    async fn lead(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
}
