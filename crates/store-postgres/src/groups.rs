//! `Groups` (membership chains) on PostgreSQL.

use securechat_proto::ids::UserId;
use securechat_store::error::Conflict;
use securechat_store::groups::{GroupChangeRow, GroupMemberRow, Groups, NewGroupChange};
use securechat_store::StoreError;
use uuid::Uuid;

use crate::rows::{corrupt, get};
use crate::{map_err, PostgresStore};

fn to_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Conflict(Conflict::GroupHead))
}

fn to_u64(value: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(column))
}

#[async_trait::async_trait]
impl Groups for PostgresStore {
    async fn append_group_change(&self, change: &NewGroupChange) -> Result<(), StoreError> {
        let seq = to_i64(change.seq)?;
        let result: Result<(), StoreError> = async {
            let mut tx = self.begin().await?;
            // The compare-and-swap on the group's last seq (a concurrent one waits for this row, then finds the seq moved and swaps nothing).
            let swapped = if seq == 0 {
                sqlx::query(
                    "INSERT INTO groups (id, head_seq, created_at) VALUES ($1, 0, $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(change.group_id)
                .bind(change.stored_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
            } else {
                sqlx::query("UPDATE groups SET head_seq = $2 WHERE id = $1 AND head_seq = $2 - 1")
                    .bind(change.group_id)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected()
            };
            if swapped != 1 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(Conflict::GroupHead));
            }
            sqlx::query(
                "INSERT INTO group_changes (group_id, seq, change, sig, stored_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(change.group_id)
            .bind(seq)
            .bind(&change.change)
            .bind(&change.sig)
            .bind(change.stored_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("DELETE FROM group_members WHERE group_id = $1")
                .bind(change.group_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            for member in &change.members {
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id, admin) VALUES ($1, $2, $3)",
                )
                .bind(change.group_id)
                .bind(member.user.0)
                .bind(member.admin)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            tx.commit().await
        }
        .await;
        self.tracked(result)
    }

    async fn group_changes(
        &self,
        group: Uuid,
        from_seq: u64,
    ) -> Result<Vec<GroupChangeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, change, sig FROM group_changes WHERE group_id = $1 AND seq >= $2 \
             ORDER BY seq",
        )
        .bind(group)
        .bind(i64::try_from(from_seq).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(GroupChangeRow {
                    seq: to_u64(get(row, "seq")?, "seq")?,
                    change: get(row, "change")?,
                    sig: get(row, "sig")?,
                })
            })
            .collect()
    }

    async fn group_members(&self, group: Uuid) -> Result<Vec<GroupMemberRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, admin FROM group_members WHERE group_id = $1 ORDER BY user_id",
        )
        .bind(group)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(GroupMemberRow {
                    user: UserId(get(row, "user_id")?),
                    admin: get(row, "admin")?,
                })
            })
            .collect()
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.head_seq FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.user_id = $1 ORDER BY g.id",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| Ok((get(row, "id")?, to_u64(get(row, "head_seq")?, "head_seq")?)))
            .collect()
    }
}
