//! `GroupMessages` on SQLite. Every write runs on the single writer connection, so the
//! membership a message is checked against is the membership it is stored under.

use securechat_proto::ids::UserId;
use securechat_store::group_messages::{deliveries, MemberState};
use securechat_store::model::{
    AppendOutcome, FileId, GroupAppendOutcome, NewGroupMessage, Removal, StoredMessage,
};
use securechat_store::{GroupMessages, StoreError};
use sqlx::{Row as _, SqliteConnection};
use uuid::Uuid;

use crate::batch::resend_answer;
use crate::messages::{files_usable, push_events, record_removal, stored, Event};
use crate::{map_err, rows, SqliteStore};

/// The group's members and whether each one's account is live.
async fn members(conn: &mut SqliteConnection, group: Uuid) -> Result<Vec<MemberState>, StoreError> {
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
            live: row.try_get::<Option<bool>, _>("live").map_err(map_err)? == Some(true),
        })
    })
    .collect()
}

/// Whether another member's message of the group has this `msg_id` already.
async fn id_taken(conn: &mut SqliteConnection, g: &NewGroupMessage) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE group_id = $1 AND msg_id = $2)")
        .bind(g.group)
        .bind(&g.message.msg_id[..])
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)
}

/// Stores one group message inside the caller's transaction.
async fn append(
    conn: &mut SqliteConnection,
    g: &NewGroupMessage,
) -> Result<GroupAppendOutcome, StoreError> {
    let m = &g.message;
    match resend_answer(conn, m).await? {
        Some(AppendOutcome::Duplicate {
            sender_seq,
            received_at,
        }) => {
            return Ok(GroupAppendOutcome::Duplicate {
                sender_seq,
                received_at,
            })
        }
        Some(_) => return Ok(GroupAppendOutcome::Conflict),
        None => {}
    }
    if id_taken(conn, g).await? {
        return Ok(GroupAppendOutcome::Conflict);
    }
    let to = match deliveries(&members(conn, g.group).await?, m.sender, &g.wrapped) {
        Ok(to) => to,
        Err(refusal) => return Ok(refusal),
    };
    if !files_usable(conn, m).await? {
        return Ok(GroupAppendOutcome::BadFile);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (sender, msg_id, recipient, envelope, digest, received_at, \
                               expires_at, group_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(m.sender.0)
    .bind(&m.msg_id[..])
    .bind(g.group)
    .bind(&m.envelope)
    .bind(&m.digest[..])
    .bind(m.received_at)
    .bind(m.expires_at)
    .bind(g.group)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    for file in &m.files {
        sqlx::query("UPDATE files SET message = $1 WHERE id = $2")
            .bind(id)
            .bind(&file[..])
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    let events: Vec<Event<'_>> = to
        .iter()
        .map(|&user| Event {
            user,
            kind: "message",
            peer: UserId(g.group),
            message: Some(id),
            tombstone: None,
            up_to: None,
            ts: m.received_at,
            group: Some(g.group),
        })
        .collect();
    let seqs = push_events(conn, &events).await?;
    let mut sender_seq = 0;
    let mut others = Vec::with_capacity(to.len());
    for (user, seq) in to.into_iter().zip(seqs) {
        if user == m.sender {
            sender_seq = seq;
        } else {
            others.push((user, seq));
        }
    }
    // A group message has no recipient stream of its own: both positions are the sender's.
    sqlx::query("UPDATE messages SET sender_seq = $1, recipient_seq = $1 WHERE id = $2")
        .bind(rows::sql_int(sender_seq))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(GroupAppendOutcome::Stored {
        sender_seq,
        members: others,
    })
}

#[async_trait::async_trait]
impl GroupMessages for SqliteStore {
    async fn append_group_message(
        &self,
        message: &NewGroupMessage,
    ) -> Result<GroupAppendOutcome, StoreError> {
        let result: Result<GroupAppendOutcome, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let outcome = append(&mut tx, message).await?;
            if matches!(outcome, GroupAppendOutcome::Stored { .. }) {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(outcome)
        }
        .await;
        self.writer.tracked(result)
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
            let mut tx = self.writer.begin().await?;
            // The actor's own message of that id first; else, for an admin, another's.
            let row = sqlx::query(
                "UPDATE messages SET envelope = NULL, removed_at = $1 WHERE id = ( \
                     SELECT id FROM messages \
                     WHERE group_id = $2 AND msg_id = $3 AND envelope IS NOT NULL \
                       AND (sender = $4 OR EXISTS (SELECT 1 FROM group_members \
                            WHERE group_id = $2 AND user_id = $4 AND admin = 1)) \
                     ORDER BY sender = $4 DESC, id LIMIT 1) \
                 RETURNING id, sender, msg_id, recipient, group_id",
            )
            .bind(now)
            .bind(group)
            .bind(&msg_id[..])
            .bind(actor.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some(row) = row else {
                tx.rollback().await?;
                return Ok(None);
            };
            let removal = record_removal(&mut tx, &row, Some(tombstone), now).await?;
            tx.commit().await?;
            Ok(Some(removal))
        }
        .await;
        self.writer.tracked(result)
    }

    async fn record_group_read(
        &self,
        reader: UserId,
        group: Uuid,
        up_to: i64,
        now: i64,
    ) -> Result<Option<Vec<(UserId, u64)>>, StoreError> {
        let result: Result<Option<Vec<(UserId, u64)>>, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let mut members = members(&mut tx, group).await?;
            if !members.iter().any(|m| m.user == reader) {
                tx.rollback().await?;
                return Ok(None);
            }
            members.sort_unstable_by_key(|m| m.user);
            let events: Vec<Event<'_>> = members
                .iter()
                .filter(|m| m.live && m.user != reader)
                .map(|m| Event {
                    user: m.user,
                    kind: "read",
                    peer: reader,
                    message: None,
                    tombstone: None,
                    up_to: Some(up_to),
                    ts: now,
                    group: Some(group),
                })
                .collect();
            let at = push_events(&mut tx, &events).await?;
            let seqs = events.iter().map(|e| e.user).zip(at).collect();
            tx.commit().await?;
            Ok(Some(seqs))
        }
        .await;
        self.writer.tracked(result)
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
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| stored(row, rows::seq(row.try_get("seq").map_err(map_err)?)?))
        .collect()
    }

    async fn file_delivered_to(&self, file: FileId, user: UserId) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM files f JOIN inbox i ON i.message = f.message \
             WHERE f.id = $1 AND i.user_id = $2 AND i.group_id IS NOT NULL AND i.kind = 'message')",
        )
        .bind(&file[..])
        .bind(user.0)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)
    }
}
