//! The node registry and the background-work lock on PostgreSQL. The lock is a session
//! advisory lock asked for, and held, on a connection of its own (outside the pool):
//! PostgreSQL releases it when that connection ends, so a node that dies or loses the
//! database gives up leading by itself, and another takes over at its next try. The
//! connection is a lease: it ends after 10 s without a query (`idle_session_timeout`; the
//! holder asks every 2 s), and TCP keepalives end it within ≈ 11 s when the holder's host
//! vanishes without closing it. (PostgreSQL 14 or later.)

use std::time::Duration;

use sqlx::{ConnectOptions as _, Connection as _, PgConnection};

use securechat_store::cluster::{Cluster, NodeRecord};
use securechat_store::StoreError;

use crate::{map_err, PostgresStore};

/// The advisory lock key of background work ("securechat jobs" in ASCII, 8 bytes).
const JOBS_LOCK: i64 = 0x7365_6375_7265_6a62;
/// Longest wait for the lock connection to connect or answer.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The lock's connection, and whether it holds the lock.
#[derive(Debug, Default)]
pub(crate) struct LockConnection {
    conn: Option<PgConnection>,
    holds: bool,
}

impl PostgresStore {
    /// A connection for the lock, with its lease settings.
    async fn lock_connection(&self) -> Result<PgConnection, StoreError> {
        let options = self.pool.connect_options().as_ref().clone().options([
            ("idle_session_timeout", "10000"),
            ("tcp_keepalives_idle", "5"),
            ("tcp_keepalives_interval", "2"),
            ("tcp_keepalives_count", "3"),
        ]);
        tokio::time::timeout(LOCK_TIMEOUT, options.connect())
            .await
            .map_err(|_| StoreError::Unavailable("connecting for the jobs lock timed out".into()))?
            .map_err(map_err)
    }
}

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
        if let Ok(mut leader) = tokio::time::timeout(LOCK_TIMEOUT, self.leader.lock()).await {
            if let Some(conn) = std::mem::take(&mut *leader).conn {
                let _ = conn.close().await;
            }
        }
        Ok(())
    }

    async fn lead(&self) -> Result<bool, StoreError> {
        let mut leader = self.leader.lock().await;
        if leader.conn.is_none() {
            leader.conn = Some(self.lock_connection().await?);
            leader.holds = false;
        }
        let holds = leader.holds;
        let Some(conn) = leader.conn.as_mut() else {
            return Ok(false);
        };
        let asked = if holds {
            tokio::time::timeout(LOCK_TIMEOUT, conn.ping())
                .await
                .map(|r| r.map(|()| true))
        } else {
            tokio::time::timeout(
                LOCK_TIMEOUT,
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(JOBS_LOCK)
                    .fetch_one(&mut *conn),
            )
            .await
        };
        match asked {
            Ok(Ok(locked)) => {
                leader.holds = locked;
                Ok(locked)
            }
            failed => {
                if holds {
                    tracing::warn!("lost the connection holding the jobs lock");
                }
                *leader = LockConnection::default();
                match failed {
                    Ok(Err(e)) => Err(map_err(e)),
                    _ => Err(StoreError::Unavailable(
                        "the jobs lock connection timed out".into(),
                    )),
                }
            }
        }
    }
}
