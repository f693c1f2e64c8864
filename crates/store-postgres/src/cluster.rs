//! The node registry and the background-work lock on PostgreSQL. The lock is a session
//! advisory lock held on a connection of its own (outside the pool): PostgreSQL releases it
//! when that connection ends, so a node that dies or loses the database gives up leading
//! by itself, and another takes over at its next try.

use sqlx::{ConnectOptions as _, Connection as _};

use securechat_store::cluster::{Cluster, NodeRecord};
use securechat_store::StoreError;

use crate::{map_err, PostgresStore};

/// The advisory lock key of background work ("securechat jobs" in ASCII, 8 bytes).
const JOBS_LOCK: i64 = 0x7365_6375_7265_6a62;

#[async_trait::async_trait]
impl Cluster for PostgresStore {
    async fn node_heartbeat(&self, node: &NodeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO nodes (id, settings, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, seen_at = excluded.seen_at",
        )
        .bind(&node.id)
        .bind(&node.settings)
        .bind(node.seen_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn live_nodes(&self, live_after: i64) -> Result<Vec<NodeRecord>, StoreError> {
        let found: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, settings, seen_at FROM nodes WHERE seen_at >= $1 ORDER BY id",
        )
        .bind(live_after)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found
            .into_iter()
            .map(|(id, settings, seen_at)| NodeRecord {
                id,
                settings,
                seen_at,
            })
            .collect())
    }

    async fn leave_cluster(&self, node_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(node_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if let Some(conn) = self.leader.lock().await.take() {
            let _ = conn.close().await;
        }
        Ok(())
    }

    async fn lead(&self) -> Result<bool, StoreError> {
        let mut leader = self.leader.lock().await;
        if let Some(conn) = leader.as_mut() {
            match conn.ping().await {
                Ok(()) => return Ok(true),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection holding the jobs lock");
                    *leader = None;
                }
            }
        }
        let mut conn = self
            .pool
            .connect_options()
            .connect()
            .await
            .map_err(map_err)?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(JOBS_LOCK)
            .fetch_one(&mut conn)
            .await
            .map_err(map_err)?;
        if locked {
            *leader = Some(conn);
        } else {
            let _ = conn.close().await;
        }
        Ok(locked)
    }
}
