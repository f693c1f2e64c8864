//! `Security` (the security event log) on PostgreSQL.

use securechat_proto::ids::UserId;
use securechat_store::security::{Security, SecurityEvent, SecurityEventRow, SecurityKind};
use securechat_store::StoreError;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::rows::{corrupt, get};
use crate::{map_err, PostgresStore};

const COLUMNS: &str = "SELECT id, at, kind, ip, user_id, login, count FROM security_events";

fn event(row: &PgRow) -> Result<SecurityEventRow, StoreError> {
    let kind: String = get(row, "kind")?;
    let user: Option<Uuid> = get(row, "user_id")?;
    let count: i64 = get(row, "count")?;
    Ok(SecurityEventRow {
        id: get(row, "id")?,
        event: SecurityEvent {
            at: get(row, "at")?,
            kind: SecurityKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            ip: get(row, "ip")?,
            user: user.map(UserId),
            login: get(row, "login")?,
            count: u32::try_from(count).map_err(|_| corrupt("count"))?,
        },
    })
}

#[async_trait::async_trait]
impl Security for PostgresStore {
    async fn record_security_events(&self, events: &[SecurityEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let column = |f: fn(&SecurityEvent) -> Option<String>| -> Vec<Option<String>> {
            events.iter().map(f).collect()
        };
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO security_events (at, kind, ip, user_id, login, count) \
                 SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::uuid[], \
                                      $5::text[], $6::int8[])",
            )
            .bind(events.iter().map(|e| e.at).collect::<Vec<_>>())
            .bind(column(|e| Some(e.kind.as_str().to_owned())))
            .bind(column(|e| e.ip.clone()))
            .bind(
                events
                    .iter()
                    .map(|e| e.user.map(|u| u.0))
                    .collect::<Vec<_>>(),
            )
            .bind(column(|e| e.login.clone()))
            .bind(
                events
                    .iter()
                    .map(|e| i64::from(e.count))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await
        }
        .await;
        self.tracked(result)
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
        .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(event)
        .collect()
    }

    async fn delete_security_events(&self, cutoff: i64) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.begin().await?;
            let done = sqlx::query("DELETE FROM security_events WHERE at < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }
        .await;
        self.tracked(result)
    }
}
