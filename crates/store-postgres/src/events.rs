//! Reading streams and conversations: `events_since`, `last_seq` and `history`. Plain reads
//! on the pool; each is one statement, so it sees whole transactions only.

use securechat_proto::ids::UserId;
use securechat_store::model::{EventPage, InboxEvent, StoredMessage};
use securechat_store::StoreError;
use sqlx::postgres::PgRow;
use sqlx::PgPool;

use crate::{map_err, rows};

/// A live message as served.
pub(crate) fn stored(row: &PgRow, seq: u64) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        seq,
        from: rows::user_id(row, "sender")?,
        group: rows::get(row, "group_id")?,
        ts: rows::get(row, "received_at")?,
        envelope: rows::get(row, "envelope")?,
        expires_at: rows::get(row, "expires_at")?,
    })
}

/// One scanned stream entry as an event; `None` for a message since removed or expired.
fn event(row: &PgRow, now: i64) -> Result<Option<InboxEvent>, StoreError> {
    let seq = rows::seq(rows::get(row, "seq")?)?;
    let kind: String = rows::get(row, "kind")?;
    Ok(match kind.as_str() {
        "message" => {
            let envelope: Option<String> = rows::get(row, "envelope")?;
            let expires_at: Option<i64> = rows::get(row, "expires_at")?;
            if envelope.is_none() || expires_at.is_some_and(|t| t <= now) {
                return Ok(None);
            }
            Some(InboxEvent::Message(stored(row, seq)?))
        }
        "deleted" => Some(InboxEvent::Deleted {
            seq,
            msg_id: rows::fixed(row, "msg_id")?,
            from: rows::user_id(row, "sender")?,
            tombstone: rows::get(row, "tombstone")?,
            group: rows::get(row, "group_id")?,
        }),
        "read" => Some(InboxEvent::Read {
            seq,
            peer: rows::user_id(row, "peer")?,
            up_to: rows::get::<Option<i64>>(row, "up_to")?
                .ok_or_else(|| rows::corrupt("a read receipt without up_to"))?,
            group: rows::get(row, "group_id")?,
        }),
        other => return Err(rows::corrupt(&format!("unknown event kind {other:?}"))),
    })
}

/// `user`'s events after `since`, from the inbox's primary key.
pub(crate) async fn since(
    pool: &PgPool,
    user: UserId,
    since: u64,
    limit: u32,
    now: i64,
) -> Result<EventPage, StoreError> {
    let found = sqlx::query(
        "SELECT i.seq, i.kind, i.peer, i.tombstone, i.up_to, i.group_id, \
                m.sender, m.msg_id, m.envelope, m.received_at, m.expires_at \
         FROM inbox i LEFT JOIN messages m ON m.id = i.message \
         WHERE i.user_id = $1 AND i.seq > $2 ORDER BY i.seq LIMIT $3",
    )
    .bind(user.0)
    .bind(rows::sql_int(since))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    let mut page = EventPage {
        events: Vec::with_capacity(found.len()),
        last_scanned: since,
        more: found.len() >= limit as usize,
    };
    for row in &found {
        page.last_scanned = rows::seq(rows::get(row, "seq")?)?;
        page.events.extend(event(row, now)?);
    }
    Ok(page)
}

/// The last seq given out in `user`'s stream.
pub(crate) async fn last_seq(pool: &PgPool, user: UserId) -> Result<u64, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM streams WHERE user_id = $1")
        .bind(user.0)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    rows::seq(seq.unwrap_or(0))
}

/// The last seq of each user's stream (0 for a user without one).
pub(crate) async fn last_seqs(
    pool: &PgPool,
    users: &[UserId],
) -> Result<Vec<(UserId, u64)>, StoreError> {
    let ids: Vec<uuid::Uuid> = users.iter().map(|u| u.0).collect();
    let found: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
        "SELECT u.id, COALESCE(s.last_seq, 0) FROM UNNEST($1::uuid[]) AS u(id) \
         LEFT JOIN streams s ON s.user_id = u.id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    found
        .into_iter()
        .map(|(id, seq)| Ok((UserId(id), rows::seq(seq)?)))
        .collect()
}

/// Live messages between `user` and `peer` with seq below `before` in `user`'s stream,
/// newest first.
pub(crate) async fn history(
    pool: &PgPool,
    user: UserId,
    peer: UserId,
    before: Option<u64>,
    limit: u32,
    now: i64,
) -> Result<Vec<StoredMessage>, StoreError> {
    // Message ids grow with `seq` in every stream, so "before this seq" is "up to the id of
    // the last message entry before it", and each direction of the conversation is read
    // backwards from `messages_pair` (sender, recipient, id), stopping after `limit` rows.
    // That entry is looked up inside the same statement (one round trip, one snapshot); when
    // there is none, `id <= NULL` matches nothing and the page is empty.
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
             (SELECT id, sender_seq AS seq, sender, received_at, envelope, expires_at, group_id \
              FROM messages \
              WHERE sender = $1 AND recipient = $2 AND id <= {bound} AND envelope IS NOT NULL \
                AND (expires_at IS NULL OR expires_at > $4) \
              ORDER BY id DESC LIMIT $5) \
             UNION ALL \
             (SELECT id, recipient_seq AS seq, sender, received_at, envelope, expires_at, group_id \
              FROM messages \
              WHERE sender = $2 AND recipient = $1 AND id <= {bound} AND envelope IS NOT NULL \
                AND (expires_at IS NULL OR expires_at > $4) \
              ORDER BY id DESC LIMIT $5)) AS h \
         ORDER BY id DESC LIMIT $5"
    );
    sqlx::query(&page)
        .bind(user.0)
        .bind(peer.0)
        .bind(bound_value)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| stored(row, rows::seq(rows::get(row, "seq")?)?))
        .collect()
}
