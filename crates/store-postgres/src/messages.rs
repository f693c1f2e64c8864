//! `Messages` on PostgreSQL: appends (`append`), removals (deletion, expiry), read receipts,
//! the reads (`events`) and the collection of unreferenced files.
//!
//! Every transaction here that adds stream events locks the streams it touches first
//! (`Streams::lock`: one statement, user-id order), then the message rows.

use std::collections::HashMap;

use securechat_proto::ids::UserId;
use securechat_store::model::{
    AppendOutcome, EventPage, FileId, NewMessage, Removal, StoredMessage,
};
use securechat_store::{Messages, StoreError};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::streams::{self, Entry, Streams};
use crate::{append, events, map_err, rows, PostgresStore};

/// A message being removed, as its `UPDATE … RETURNING` row gave it.
pub(crate) struct Removed {
    id: i64,
    sender: UserId,
    recipient: UserId,
    msg_id: [u8; 16],
    group: Option<Uuid>,
}

impl Removed {
    pub(crate) fn from_row(row: &PgRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: rows::get(row, "id")?,
            sender: rows::user_id(row, "sender")?,
            recipient: rows::user_id(row, "recipient")?,
            msg_id: rows::fixed(row, "msg_id")?,
            group: rows::get(row, "group_id")?,
        })
    }
}

/// The members who received each group message of `ids`, the sender included, by user id (a
/// group message's removal goes into each of their streams). The set never changes once the
/// message is stored, so a plain read is enough to know which streams to lock.
pub(crate) async fn group_receivers(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<UserId>>, StoreError> {
    let found = sqlx::query(
        "SELECT message, user_id FROM inbox \
         WHERE message = ANY($1) AND group_id IS NOT NULL AND kind = 'message' \
         ORDER BY message, user_id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    let mut receivers: HashMap<i64, Vec<UserId>> = HashMap::new();
    for row in &found {
        receivers
            .entry(rows::get(row, "message")?)
            .or_default()
            .push(rows::user_id(row, "user_id")?);
    }
    Ok(receivers)
}

/// The streams a removal of the message (`id`, `sender`, `recipient`, in a group or not)
/// goes to, to lock before removing it.
pub(crate) fn removal_users(
    id: i64,
    sender: UserId,
    recipient: UserId,
    group: Option<Uuid>,
    receivers: &HashMap<i64, Vec<UserId>>,
) -> Vec<UserId> {
    match group {
        None => vec![sender, recipient],
        Some(_) => std::iter::once(sender)
            .chain(receivers.get(&id).into_iter().flatten().copied())
            .collect(),
    }
}

/// Records removals (the envelopes are already cleared, the streams locked) in the streams of
/// everyone who got each message (both sides; in a group, each member who received it), in
/// id order, and drops the messages' files.
pub(crate) async fn record_removals(
    conn: &mut PgConnection,
    mut streams: Streams,
    mut removed: Vec<Removed>,
    tombstone: Option<&str>,
    now: i64,
) -> Result<Vec<Removal>, StoreError> {
    removed.sort_by_key(|r| r.id);
    let ids: Vec<i64> = removed.iter().map(|r| r.id).collect();
    let receivers = group_receivers(&mut *conn, &ids).await?;
    let mut entries = Vec::with_capacity(removed.len() * 2);
    let mut removals = Vec::with_capacity(removed.len());
    for r in &removed {
        let mut to = vec![(r.sender, r.recipient)];
        match r.group {
            None => to.push((r.recipient, r.sender)),
            Some(_) => to.extend(
                receivers
                    .get(&r.id)
                    .into_iter()
                    .flatten()
                    .filter(|u| **u != r.sender)
                    .map(|u| (*u, r.recipient)),
            ),
        }
        let mut positions = Vec::with_capacity(to.len());
        for (user, peer) in to {
            let seq = streams.next(user)?;
            entries.push(Entry {
                user,
                seq,
                kind: "deleted",
                peer,
                message: Some(r.id),
                tombstone,
                up_to: None,
                ts: now,
                group: r.group,
            });
            positions.push((user, seq));
        }
        removals.push(Removal {
            msg_id: r.msg_id,
            sender: r.sender,
            group: r.group,
            streams: positions,
            files: Vec::new(),
        });
    }
    streams::insert(&mut *conn, &entries).await?;
    streams.save(&mut *conn).await?;

    let dropped = sqlx::query("DELETE FROM files WHERE message = ANY($1) RETURNING id, message")
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut files: HashMap<i64, Vec<FileId>> = HashMap::new();
    for row in &dropped {
        files
            .entry(rows::get(row, "message")?)
            .or_default()
            .push(rows::fixed(row, "id")?);
    }
    for (removal, r) in removals.iter_mut().zip(&removed) {
        if let Some(mut carried) = files.remove(&r.id) {
            carried.sort_unstable();
            removal.files = carried;
        }
    }
    Ok(removals)
}

#[async_trait::async_trait]
impl Messages for PostgresStore {
    async fn append_messages(
        &self,
        batch: &[NewMessage],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let result: Result<Vec<AppendOutcome>, StoreError> = async {
            let mut tx = self.begin().await?;
            let outcomes = append::append(&mut tx, batch).await?;
            tx.commit().await?;
            Ok(outcomes)
        }
        .await;
        self.tracked(result)
    }

    async fn delete_message(
        &self,
        sender: UserId,
        msg_id: [u8; 16],
        tombstone: &str,
        now: i64,
    ) -> Result<Option<Removal>, StoreError> {
        let result: Result<Option<Removal>, StoreError> = async {
            let mut tx = self.begin().await?;
            // The recipient names the second stream to lock; it never changes, so a plain
            // read is enough. Whether the message is still live is decided after the locks.
            let recipient: Option<Uuid> = sqlx::query_scalar(
                "SELECT recipient FROM messages \
                 WHERE sender = $1 AND msg_id = $2 AND envelope IS NOT NULL AND group_id IS NULL",
            )
            .bind(sender.0)
            .bind(&msg_id[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some(recipient) = recipient else {
                tx.rollback().await?;
                return Ok(None);
            };
            let streams = Streams::lock(&mut tx, [sender, UserId(recipient)]).await?;
            let row = sqlx::query(
                "UPDATE messages SET envelope = NULL, removed_at = $1 \
                 WHERE sender = $2 AND msg_id = $3 AND envelope IS NOT NULL AND group_id IS NULL \
                 RETURNING id, sender, msg_id, recipient, group_id",
            )
            .bind(now)
            .bind(sender.0)
            .bind(&msg_id[..])
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

    async fn expire_messages(&self, now: i64, limit: u32) -> Result<Vec<Removal>, StoreError> {
        let result: Result<Vec<Removal>, StoreError> = async {
            let mut tx = self.begin().await?;
            let due = sqlx::query(
                "SELECT id, sender, recipient, group_id FROM messages \
                 WHERE envelope IS NOT NULL AND expires_at IS NOT NULL AND expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2",
            )
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            if due.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let mut ids = Vec::with_capacity(due.len());
            for row in &due {
                ids.push(rows::get::<i64>(row, "id")?);
            }
            let receivers = group_receivers(&mut tx, &ids).await?;
            let mut users = Vec::with_capacity(due.len() * 2);
            for row in &due {
                users.extend(removal_users(
                    rows::get(row, "id")?,
                    rows::user_id(row, "sender")?,
                    rows::user_id(row, "recipient")?,
                    rows::get(row, "group_id")?,
                    &receivers,
                ));
            }
            let streams = Streams::lock(&mut tx, users).await?;
            // Messages another process expired (or a sender deleted) meanwhile are skipped.
            let expired = sqlx::query(
                "UPDATE messages SET envelope = NULL, removed_at = $1 \
                 WHERE id = ANY($2) AND envelope IS NOT NULL \
                 RETURNING id, sender, msg_id, recipient, group_id",
            )
            .bind(now)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(Removed::from_row)
            .collect::<Result<Vec<_>, _>>()?;
            let removals = record_removals(&mut tx, streams, expired, None, now).await?;
            tx.commit().await?;
            Ok(removals)
        }
        .await;
        self.tracked(result)
    }

    async fn record_read(
        &self,
        reader: UserId,
        peer: UserId,
        up_to: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.begin().await?;
            let mut streams = Streams::lock(&mut tx, [peer]).await?;
            let seq = streams.next(peer)?;
            let entry = Entry {
                user: peer,
                seq,
                kind: "read",
                peer: reader,
                message: None,
                tombstone: None,
                up_to: Some(up_to),
                ts: now,
                group: None,
            };
            streams::insert(&mut tx, &[entry]).await?;
            streams.save(&mut tx).await?;
            tx.commit().await?;
            Ok(seq)
        }
        .await;
        self.tracked(result)
    }

    async fn events_since(
        &self,
        user: UserId,
        since: u64,
        limit: u32,
        now: i64,
    ) -> Result<EventPage, StoreError> {
        events::since(&self.pool, user, since, limit, now).await
    }

    async fn last_seq(&self, user: UserId) -> Result<u64, StoreError> {
        events::last_seq(&self.pool, user).await
    }

    async fn last_seqs(&self, users: &[UserId]) -> Result<Vec<(UserId, u64)>, StoreError> {
        events::last_seqs(&self.pool, users).await
    }

    async fn history(
        &self,
        user: UserId,
        peer: UserId,
        before: Option<u64>,
        limit: u32,
        now: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        events::history(&self.pool, user, peer, before, limit, now).await
    }

    async fn take_unreferenced_files(&self, cutoff: i64) -> Result<Vec<FileId>, StoreError> {
        let result: Result<Vec<FileId>, StoreError> = async {
            let mut tx = self.begin().await?;
            // Files an append holds locked (it is attaching them) are skipped, not waited
            // for: they are either attached when it commits or taken next time.
            let taken = sqlx::query(
                "DELETE FROM files WHERE message IS NULL AND id IN ( \
                     SELECT id FROM files WHERE message IS NULL AND created_at < $1 \
                     FOR UPDATE SKIP LOCKED) \
                 RETURNING id",
            )
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await?;
            taken.iter().map(|r| rows::fixed::<16>(r, "id")).collect()
        }
        .await;
        self.tracked(result)
    }
}
