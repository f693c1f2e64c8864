//! `GroupMessages` on PostgreSQL.
//!
//! A transaction that reads a group's membership to act on it takes a share lock on the
//! group's row first: a membership change (which updates that row) waits for it, or has
//! committed before and is seen. Then it locks the streams it writes, in user-id order, like
//! every other stream writer.

use securechat_proto::ids::UserId;
use securechat_store::group_messages::{deliveries, MemberState};
use securechat_store::model::{
    AppendOutcome, FileId, GroupAppendOutcome, NewGroupMessage, Removal, StoredMessage,
};
use securechat_store::{GroupMessages, StoreError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::append::{new_ids, stored_keys};
use crate::attach::Attachments;
use crate::events::stored;
use crate::messages::{group_receivers, record_removals, removal_users, Removed};
use crate::streams::{self, Entry, Streams};
use crate::{map_err, rows, PostgresStore};

/// Share-locks the group's row and reads its members; empty for an unknown group.
async fn members(conn: &mut PgConnection, group: Uuid) -> Result<Vec<MemberState>, StoreError> {
    sqlx::query("SELECT id FROM groups WHERE id = $1 FOR SHARE")
        .bind(group)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    members_again(conn, group).await
}

/// The group's members and whether each one's account is live, read without taking the
/// group's lock again.
async fn members_again(
    conn: &mut PgConnection,
    group: Uuid,
) -> Result<Vec<MemberState>, StoreError> {
    sqlx::query(
        "SELECT g.user_id, (u.id IS NOT NULL AND u.deleted_at IS NULL) AS live \
         FROM group_members g \
         LEFT JOIN users u ON u.id = g.user_id WHERE g.group_id = $1",
    )
    .bind(group)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| {
        Ok(MemberState {
            user: rows::user_id(row, "user_id")?,
            live: rows::get::<Option<bool>>(row, "live")? == Some(true),
        })
    })
    .collect()
}

/// Stores one group message inside the caller's transaction.
async fn append(
    conn: &mut PgConnection,
    g: &NewGroupMessage,
) -> Result<GroupAppendOutcome, StoreError> {
    let m = &g.message;
    let members = members(&mut *conn, g.group).await?;
    // The sender's stream too, even when it is not a member: its lock guards its keys.
    let mut streams = Streams::lock(
        &mut *conn,
        members
            .iter()
            .filter(|s| s.live)
            .map(|s| s.user)
            .chain([m.sender]),
    )
    .await?;
    let batch = std::slice::from_ref(m);
    if let Some(known) = stored_keys(&mut *conn, batch)
        .await?
        .get(&(m.sender, m.msg_id))
    {
        return Ok(match known.answer(m) {
            AppendOutcome::Duplicate {
                sender_seq,
                received_at,
            } => GroupAppendOutcome::Duplicate {
                sender_seq,
                received_at,
            },
            _ => GroupAppendOutcome::Conflict,
        });
    }
    // Read again under the streams' locks: an account deleted meanwhile (its deletion holds
    // its stream until it commits) is seen as such now.
    let members = members_again(&mut *conn, g.group).await?;
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE group_id = $1 AND msg_id = $2)",
    )
    .bind(g.group)
    .bind(&m.msg_id[..])
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    if taken {
        return Ok(GroupAppendOutcome::Conflict);
    }
    let to = match deliveries(&members, m.sender, &g.wrapped) {
        Ok(to) => to,
        Err(refusal) => return Ok(refusal),
    };
    let mut files = Attachments::lock(&mut *conn, batch).await?;
    if !m.files.is_empty() && !files.claim(m, 0) {
        return Ok(GroupAppendOutcome::BadFile);
    }
    let ids = new_ids(&mut *conn, 1).await?;
    let id = ids[0];
    let mut entries = Vec::with_capacity(to.len());
    let mut sender_seq = 0;
    let mut others = Vec::with_capacity(to.len());
    for user in to {
        let seq = streams.next(user)?;
        entries.push(Entry {
            user,
            seq,
            kind: "message",
            peer: UserId(g.group),
            message: Some(id),
            tombstone: None,
            up_to: None,
            ts: m.received_at,
            group: Some(g.group),
        });
        if user == m.sender {
            sender_seq = seq;
        } else {
            others.push((user, seq));
        }
    }
    // A group message has no recipient stream of its own: both positions are the sender's.
    sqlx::query(
        "INSERT INTO messages (id, sender, msg_id, recipient, envelope, digest, received_at, \
                               expires_at, sender_seq, recipient_seq, group_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $4)",
    )
    .bind(id)
    .bind(m.sender.0)
    .bind(&m.msg_id[..])
    .bind(g.group)
    .bind(&m.envelope)
    .bind(&m.digest[..])
    .bind(m.received_at)
    .bind(m.expires_at)
    .bind(rows::sql_int(sender_seq))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    streams::insert(&mut *conn, &entries).await?;
    files.save(&mut *conn, &ids).await?;
    streams.save(&mut *conn).await?;
    Ok(GroupAppendOutcome::Stored {
        sender_seq,
        members: others,
    })
}

#[async_trait::async_trait]
impl GroupMessages for PostgresStore {
    async fn append_group_message(
        &self,
        message: &NewGroupMessage,
    ) -> Result<GroupAppendOutcome, StoreError> {
        let result: Result<GroupAppendOutcome, StoreError> = async {
            let mut tx = self.begin().await?;
            let outcome = append(&mut tx, message).await?;
            if matches!(outcome, GroupAppendOutcome::Stored { .. }) {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(outcome)
        }
        .await;
        self.tracked(result)
    }

    async fn delete_group_message(
        &self,
        actor: UserId,
        group: Uuid,
        msg_id: [u8; 16],
        tombstone: &str,
        now: i64,
    ) -> Result<Option<Removal>, StoreError> {
        let result: Result<Option<Removal>, StoreError> = async {
            let mut tx = self.begin().await?;
            members(&mut tx, group).await?;
            // The actor's own message of that id first; else, for an admin, another's.
            let target = sqlx::query(
                "SELECT id, sender, recipient, group_id FROM messages \
                 WHERE group_id = $1 AND msg_id = $2 AND envelope IS NOT NULL \
                   AND (sender = $3 OR EXISTS (SELECT 1 FROM group_members \
                        WHERE group_id = $1 AND user_id = $3 AND admin)) \
                 ORDER BY sender = $3 DESC, id LIMIT 1",
            )
            .bind(group)
            .bind(&msg_id[..])
            .bind(actor.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some(target) = target else {
                tx.rollback().await?;
                return Ok(None);
            };
            let id: i64 = rows::get(&target, "id")?;
            let receivers = group_receivers(&mut tx, &[id]).await?;
            let users = removal_users(
                id,
                rows::user_id(&target, "sender")?,
                rows::user_id(&target, "recipient")?,
                Some(group),
                &receivers,
            );
            let streams = Streams::lock(&mut tx, users).await?;
            let row = sqlx::query(
                "UPDATE messages SET envelope = NULL, removed_at = $1 \
                 WHERE id = $2 AND envelope IS NOT NULL \
                 RETURNING id, sender, msg_id, recipient, group_id",
            )
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some(row) = row else {
                // Removed by another transaction while this one waited for the streams.
                tx.rollback().await?;
                return Ok(None);
            };
            let removed = vec![Removed::from_row(&row)?];
            let removal = record_removals(&mut tx, streams, removed, Some(tombstone), now)
                .await?
                .pop();
            tx.commit().await?;
            Ok(removal)
        }
        .await;
        self.tracked(result)
    }

    async fn record_group_read(
        &self,
        reader: UserId,
        group: Uuid,
        up_to: i64,
        now: i64,
    ) -> Result<Option<Vec<(UserId, u64)>>, StoreError> {
        let result: Result<Option<Vec<(UserId, u64)>>, StoreError> = async {
            let mut tx = self.begin().await?;
            let members = members(&mut tx, group).await?;
            if !members.iter().any(|m| m.user == reader) {
                tx.rollback().await?;
                return Ok(None);
            }
            let mut others: Vec<UserId> = members
                .iter()
                .filter(|m| m.live && m.user != reader)
                .map(|m| m.user)
                .collect();
            others.sort_unstable();
            let mut streams = Streams::lock(&mut tx, others.iter().copied()).await?;
            let mut entries = Vec::with_capacity(others.len());
            let mut seqs = Vec::with_capacity(others.len());
            for user in others {
                let seq = streams.next(user)?;
                entries.push(Entry {
                    user,
                    seq,
                    kind: "read",
                    peer: reader,
                    message: None,
                    tombstone: None,
                    up_to: Some(up_to),
                    ts: now,
                    group: Some(group),
                });
                seqs.push((user, seq));
            }
            streams::insert(&mut tx, &entries).await?;
            streams.save(&mut tx).await?;
            tx.commit().await?;
            Ok(Some(seqs))
        }
        .await;
        self.tracked(result)
    }

    async fn group_history(
        &self,
        user: UserId,
        group: Uuid,
        before: Option<u64>,
        limit: u32,
        now: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        sqlx::query(
            "SELECT i.seq, m.sender, m.received_at, m.envelope, m.expires_at, m.group_id \
             FROM inbox i JOIN messages m ON m.id = i.message \
             WHERE i.user_id = $1 AND i.group_id = $2 AND i.kind = 'message' AND i.seq < $3 \
               AND m.envelope IS NOT NULL AND (m.expires_at IS NULL OR m.expires_at > $4) \
             ORDER BY i.seq DESC LIMIT $5",
        )
        .bind(user.0)
        .bind(group)
        .bind(before.map_or(i64::MAX, rows::sql_int))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| stored(row, rows::seq(rows::get(row, "seq")?)?))
        .collect()
    }

    async fn file_delivered_to(&self, file: FileId, user: UserId) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM files f JOIN inbox i ON i.message = f.message \
             WHERE f.id = $1 AND i.user_id = $2 AND i.group_id IS NOT NULL AND i.kind = 'message')",
        )
        .bind(&file[..])
        .bind(user.0)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)
    }
}
