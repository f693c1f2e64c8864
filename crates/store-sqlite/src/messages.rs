//! `Messages` on SQLite. All writes go through the single writer connection, which is what
//! makes `MAX(seq) + 1` a gap-free, race-free sequence.

use securechat_proto::ids::UserId;
use securechat_store::model::{
    AppendOutcome, EventPage, FileId, InboxEvent, NewMessage, Removal, StoredMessage,
};
use securechat_store::{Messages, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row as _, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::batch::{append_run, resend_answer};
use crate::{map_err, rows, SqliteStore};

/// One new event of a user's stream.
pub(crate) struct Event<'a> {
    pub(crate) user: UserId,
    pub(crate) kind: &'static str,
    pub(crate) peer: UserId,
    pub(crate) message: Option<i64>,
    pub(crate) tombstone: Option<&'a str>,
    pub(crate) up_to: Option<i64>,
    pub(crate) ts: i64,
    pub(crate) group: Option<Uuid>,
}

pub(crate) async fn push_event(
    conn: &mut SqliteConnection,
    event: Event<'_>,
) -> Result<u64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO inbox (user_id, seq, kind, peer, message, tombstone, up_to, ts, group_id) \
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM inbox WHERE user_id = $1), \
                 $2, $3, $4, $5, $6, $7, $8) \
         RETURNING seq",
    )
    .bind(event.user.0)
    .bind(event.kind)
    .bind(event.peer.0)
    .bind(event.message)
    .bind(event.tombstone)
    .bind(event.up_to)
    .bind(event.ts)
    .bind(event.group)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    rows::seq(seq)
}

/// Appends events to users' streams with two statements however many there are: one read of
/// the users' last seqs, one multi-row insert. Returns each event's seq, in input order (a
/// user named twice gets two consecutive seqs).
pub(crate) async fn push_events(
    conn: &mut SqliteConnection,
    events: &[Event<'_>],
) -> Result<Vec<u64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut last = crate::batch::last_seqs(conn, events.iter().map(|e| e.user).collect()).await?;
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| {
            let seq = last.entry(e.user).or_insert(0);
            *seq += 1;
            *seq
        })
        .collect();
    // At most 9 parameters a row: 1000 rows stay under SQLite's 32 766.
    for (chunk, seqs) in events.chunks(1000).zip(seqs.chunks(1000)) {
        let mut insert: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO inbox (user_id, seq, kind, peer, message, tombstone, up_to, ts, group_id) ",
        );
        insert.push_values(chunk.iter().zip(seqs), |mut row, (e, seq)| {
            row.push_bind(e.user.0)
                .push_bind(rows::sql_int(*seq))
                .push_bind(e.kind)
                .push_bind(e.peer.0)
                .push_bind(e.message)
                .push_bind(e.tombstone)
                .push_bind(e.up_to)
                .push_bind(e.ts)
                .push_bind(e.group);
        });
        insert.build().execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(seqs)
}

/// Whether every file may be attached by `m`: uploaded by its sender for its recipient (or
/// group) and not yet carried by a message.
pub(crate) async fn files_usable(
    conn: &mut SqliteConnection,
    m: &NewMessage,
) -> Result<bool, StoreError> {
    for file in &m.files {
        let row = sqlx::query("SELECT uploader, recipient, message FROM files WHERE id = $1")
            .bind(&file[..])
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(false) };
        let message: Option<i64> = row.try_get("message").map_err(map_err)?;
        if rows::user_id(&row, "uploader")? != m.sender
            || rows::user_id(&row, "recipient")? != m.recipient
            || message.is_some()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Stores one message that carries files, after checking its key and its files.
async fn append_one(
    conn: &mut SqliteConnection,
    m: &NewMessage,
) -> Result<AppendOutcome, StoreError> {
    if let Some(answer) = resend_answer(conn, m).await? {
        return Ok(answer);
    }
    if !files_usable(conn, m).await? {
        return Ok(AppendOutcome::BadFile);
    }
    // No `ON CONFLICT`: the key was checked just above under the single writer.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (sender, msg_id, recipient, envelope, digest, received_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(m.sender.0)
    .bind(&m.msg_id[..])
    .bind(m.recipient.0)
    .bind(&m.envelope)
    .bind(&m.digest[..])
    .bind(m.received_at)
    .bind(m.expires_at)
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
    let event = |user, peer| Event {
        user,
        kind: "message",
        peer,
        message: Some(id),
        tombstone: None,
        up_to: None,
        ts: m.received_at,
        group: None,
    };
    let sender_seq = push_event(conn, event(m.sender, m.recipient)).await?;
    let recipient_seq = push_event(conn, event(m.recipient, m.sender)).await?;
    sqlx::query("UPDATE messages SET sender_seq = $1, recipient_seq = $2 WHERE id = $3")
        .bind(rows::sql_int(sender_seq))
        .bind(rows::sql_int(recipient_seq))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(AppendOutcome::Stored {
        sender_seq,
        recipient_seq,
    })
}

/// Records a removal (the envelope is already cleared) in the stream of everyone who got the
/// message (both sides; in a group, every member who received it) and drops its files. `row`
/// has the message's `id`, `sender`, `msg_id`, `recipient` and `group_id`.
pub(crate) async fn record_removal(
    conn: &mut SqliteConnection,
    row: &SqliteRow,
    tombstone: Option<&str>,
    now: i64,
) -> Result<Removal, StoreError> {
    let id: i64 = row.try_get("id").map_err(map_err)?;
    let sender = rows::user_id(row, "sender")?;
    let recipient = rows::user_id(row, "recipient")?;
    let group: Option<Uuid> = row.try_get("group_id").map_err(map_err)?;
    let mut users = vec![(sender, recipient)];
    if group.is_some() {
        let members: Vec<Uuid> = sqlx::query_scalar(
            "SELECT user_id FROM inbox \
             WHERE message = $1 AND group_id IS NOT NULL AND kind = 'message' AND user_id != $2 \
             ORDER BY user_id",
        )
        .bind(id)
        .bind(sender.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
        users = std::iter::once((sender, recipient))
            .chain(members.into_iter().map(|m| (UserId(m), recipient)))
            .collect();
    } else {
        users.push((recipient, sender));
    }
    let events: Vec<Event<'_>> = users
        .iter()
        .map(|&(user, peer)| Event {
            user,
            kind: "deleted",
            peer,
            message: Some(id),
            tombstone,
            up_to: None,
            ts: now,
            group,
        })
        .collect();
    let seqs = push_events(conn, &events).await?;
    let streams = users.iter().map(|u| u.0).zip(seqs).collect();
    let files = sqlx::query("DELETE FROM files WHERE message = $1 RETURNING id")
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| rows::fixed::<16>(r, "id"))
        .collect::<Result<Vec<FileId>, _>>()?;
    Ok(Removal {
        msg_id: rows::fixed(row, "msg_id")?,
        sender,
        group,
        streams,
        files,
    })
}

pub(crate) fn stored(row: &SqliteRow, seq: u64) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        seq,
        from: rows::user_id(row, "sender")?,
        group: row.try_get("group_id").map_err(map_err)?,
        ts: row.try_get("received_at").map_err(map_err)?,
        envelope: row.try_get("envelope").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
    })
}

#[async_trait::async_trait]
impl Messages for SqliteStore {
    async fn append_messages(
        &self,
        batch: &[NewMessage],
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let result: Result<Vec<AppendOutcome>, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let mut outcomes = Vec::with_capacity(batch.len());
            let gone = crate::accounts::deleted_users(&mut tx).await?;
            // Runs of file-less messages take the batched path; file messages (rare, with access
            // checks on their files) go one by one. Order, and so `seq` order, is kept.
            let mut run: Vec<&NewMessage> = Vec::new();
            for m in batch {
                if gone.contains(&m.sender) || gone.contains(&m.recipient) {
                    if !run.is_empty() {
                        outcomes.extend(append_run(&mut tx, &run).await?);
                        run.clear();
                    }
                    outcomes.push(AppendOutcome::Gone);
                    continue;
                }
                if m.files.is_empty() {
                    run.push(m);
                    continue;
                }
                if !run.is_empty() {
                    outcomes.extend(append_run(&mut tx, &run).await?);
                    run.clear();
                }
                outcomes.push(append_one(&mut tx, m).await?);
            }
            if !run.is_empty() {
                outcomes.extend(append_run(&mut tx, &run).await?);
            }
            tx.commit().await?;
            Ok(outcomes)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn delete_message(
        &self,
        sender: UserId,
        msg_id: [u8; 16],
        tombstone: &str,
        now: i64,
    ) -> Result<Option<Removal>, StoreError> {
        let result: Result<Option<Removal>, StoreError> = async {
            let mut tx = self.writer.begin().await?;
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

    async fn expire_messages(&self, now: i64, limit: u32) -> Result<Vec<Removal>, StoreError> {
        let result: Result<Vec<Removal>, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let expired = sqlx::query(
                "UPDATE messages SET envelope = NULL, removed_at = $1 WHERE id IN ( \
                     SELECT id FROM messages WHERE envelope IS NOT NULL AND expires_at IS NOT NULL \
                     AND expires_at <= $1 ORDER BY expires_at LIMIT $2) \
                 RETURNING id, sender, msg_id, recipient, group_id",
            )
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            let mut removals = Vec::with_capacity(expired.len());
            for row in &expired {
                removals.push(record_removal(&mut tx, row, None, now).await?);
            }
            tx.commit().await?;
            Ok(removals)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn record_read(
        &self,
        reader: UserId,
        peer: UserId,
        up_to: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let seq = push_event(
                &mut tx,
                Event {
                    user: peer,
                    kind: "read",
                    peer: reader,
                    message: None,
                    tombstone: None,
                    up_to: Some(up_to),
                    ts: now,
                    group: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(seq)
        }
        .await;
        self.writer.tracked(result)
    }

    async fn events_since(
        &self,
        user: UserId,
        since: u64,
        limit: u32,
        now: i64,
    ) -> Result<EventPage, StoreError> {
        let rows = sqlx::query(
            "SELECT i.seq, i.kind, i.peer, i.tombstone, i.up_to, i.group_id, \
                    m.sender, m.msg_id, m.envelope, m.received_at, m.expires_at \
             FROM inbox i LEFT JOIN messages m ON m.id = i.message \
             WHERE i.user_id = $1 AND i.seq > $2 ORDER BY i.seq LIMIT $3",
        )
        .bind(user.0)
        .bind(rows::sql_int(since))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        let mut page = EventPage {
            events: Vec::with_capacity(rows.len()),
            last_scanned: since,
            more: rows.len() >= limit as usize,
        };
        for row in &rows {
            let seq = rows::seq(row.try_get("seq").map_err(map_err)?)?;
            page.last_scanned = seq;
            let kind: String = row.try_get("kind").map_err(map_err)?;
            match kind.as_str() {
                "message" => {
                    let envelope: Option<String> = row.try_get("envelope").map_err(map_err)?;
                    let expires_at: Option<i64> = row.try_get("expires_at").map_err(map_err)?;
                    if envelope.is_some() && expires_at.is_none_or(|t| t > now) {
                        page.events.push(InboxEvent::Message(stored(row, seq)?));
                    }
                }
                "deleted" => page.events.push(InboxEvent::Deleted {
                    seq,
                    msg_id: rows::fixed(row, "msg_id")?,
                    from: rows::user_id(row, "sender")?,
                    tombstone: row.try_get("tombstone").map_err(map_err)?,
                    group: row.try_get("group_id").map_err(map_err)?,
                }),
                "read" => page.events.push(InboxEvent::Read {
                    seq,
                    peer: rows::user_id(row, "peer")?,
                    up_to: row
                        .try_get::<Option<i64>, _>("up_to")
                        .map_err(map_err)?
                        .ok_or_else(|| rows::corrupt("a read receipt without up_to"))?,
                    group: row.try_get("group_id").map_err(map_err)?,
                }),
                other => return Err(rows::corrupt(&format!("unknown event kind {other:?}"))),
            }
        }
        Ok(page)
    }

    async fn last_seq(&self, user: UserId) -> Result<u64, StoreError> {
        let seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM inbox WHERE user_id = $1")
                .bind(user.0)
                .fetch_one(&self.reader)
                .await
                .map_err(map_err)?;
        rows::seq(seq)
    }

    async fn last_seqs(&self, users: &[UserId]) -> Result<Vec<(UserId, u64)>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.reader.acquire().await.map_err(map_err)?;
        let last = crate::batch::last_seqs(&mut conn, users.to_vec()).await?;
        Ok(last.into_iter().collect())
    }

    async fn history(
        &self,
        user: UserId,
        peer: UserId,
        before: Option<u64>,
        limit: u32,
        now: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        // Message ids grow with `seq` in every stream, so "before this seq" is "up to the id
        // of the last message event before it", and the history is read from `messages_pair`.
        // That event is looked up inside the same statement (one round trip to the reader, one
        // snapshot); when there is none, `id <= NULL` matches nothing and the page is empty.
        let (bound, bound_value) = match before {
            None => ("$3", i64::MAX),
            Some(before) => (
                "(SELECT message FROM inbox \
                  WHERE user_id = $1 AND seq < $3 AND kind = 'message' \
                  ORDER BY seq DESC LIMIT 1)",
                rows::sql_int(before),
            ),
        };
        let page = format!(
            "SELECT seq, sender, received_at, envelope, expires_at, group_id FROM ( \
                 SELECT * FROM (SELECT id, sender_seq AS seq, sender, received_at, envelope, \
                                       expires_at, group_id FROM messages \
                     WHERE sender = $1 AND recipient = $2 AND id <= {bound} \
                       AND envelope IS NOT NULL AND (expires_at IS NULL OR expires_at > $4) \
                     ORDER BY id DESC LIMIT $5) \
                 UNION ALL \
                 SELECT * FROM (SELECT id, recipient_seq AS seq, sender, received_at, envelope, \
                                       expires_at, group_id FROM messages \
                     WHERE sender = $2 AND recipient = $1 AND id <= {bound} \
                       AND envelope IS NOT NULL AND (expires_at IS NULL OR expires_at > $4) \
                     ORDER BY id DESC LIMIT $5)) \
             ORDER BY id DESC LIMIT $5"
        );
        sqlx::query(&page)
            .bind(user.0)
            .bind(peer.0)
            .bind(bound_value)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(|row| stored(row, rows::position(row.try_get("seq").map_err(map_err)?)?))
            .collect()
    }

    async fn take_unreferenced_files(&self, cutoff: i64) -> Result<Vec<FileId>, StoreError> {
        let result: Result<Vec<FileId>, StoreError> = async {
            let mut tx = self.writer.begin().await?;
            let taken = sqlx::query(
                "DELETE FROM files WHERE message IS NULL AND created_at < $1 RETURNING id",
            )
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await?;
            taken.iter().map(|r| rows::fixed::<16>(r, "id")).collect()
        }
        .await;
        self.writer.tracked(result)
    }
}
