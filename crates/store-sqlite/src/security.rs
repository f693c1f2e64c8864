//! `Security` (the security event log) on SQLite.

use securechat_proto::ids::UserId;
use securechat_store::security::{Security, SecurityEvent, SecurityEventRow, SecurityKind};
use securechat_store::StoreError;
use sqlx::sqlite::SqliteRow;
use sqlx::Row as _;
use uuid::Uuid;

use crate::rows::corrupt;
use crate::{map_err, SqliteStore};

const COLUMNS: &str = "SELECT id, at, kind, ip, user_id, login, count FROM security_events";

fn event(row: &SqliteRow) -> Result<SecurityEventRow, StoreError> {
    let kind: String = row.try_get("kind").map_err(map_err)?;
    let user: Option<Uuid> = row.try_get("user_id").map_err(map_err)?;
    let count: i64 = row.try_get("count").map_err(map_err)?;
    Ok(SecurityEventRow {
        id: row.try_get("id").map_err(map_err)?,
        event: SecurityEvent {
            at: row.try_get("at").map_err(map_err)?,
            kind: SecurityKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            ip: row.try_get("ip").map_err(map_err)?,
            user: user.map(UserId),
            login: row.try_get("login").map_err(map_err)?,
            count: u32::try_from(count).map_err(|_| corrupt("count"))?,
        },
    })
}

#[async_trait::async_trait]
impl Security for SqliteStore {
    async fn record_security_events(&self, events: &[SecurityEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let result: Result<(), StoreError> = async {
            let mut tx = self.writer.begin().await?;
            for e in events {
                sqlx::query(
                    "INSERT INTO security_events (at, kind, ip, user_id, login, count) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(e.at)
                .bind(e.kind.as_str())
                .bind(e.ip.as_deref())
                .bind(e.user.map(|u| u.0))
                .bind(e.login.as_deref())
                .bind(i64::from(e.count))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            tx.commit().await
        }
        .await;
        self.writer.tracked(result)
    }

    async fn security_events_since(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<SecurityEventRow>, StoreError> {
        sqlx::query(&format!(
            "{COLUMNS} WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2"
        ))
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(event)
        .collect()
    }

    async fn unblocks_since(&self, since: i64) -> Result<Vec<SecurityEventRow>, StoreError> {
        sqlx::query(&format!(
            "{COLUMNS} WHERE at >= $1 AND kind IN ($2, $3) ORDER BY at, id"
        ))
        .bind(since)
        .bind(SecurityKind::UnblockIp.as_str())
        .bind(SecurityKind::UnblockAccount.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(event)
        .collect()
    }

    async fn delete_security_events(&self, cutoff: i64) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let done = sqlx::query("DELETE FROM security_events WHERE at < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }
        .await;
        self.writer.tracked(result)
    }
}
