//! The fast path of `append_messages`: a run of messages without files is stored with four
//! statements however long it is — one read of the run's keys already stored, one read of the
//! users' last `seq`, one multi-row insert of the messages (with their stream positions), one
//! multi-row insert of the stream entries — instead of several per message. This is what lets
//! one writer keep up with tens of thousands of messages a second.

use std::collections::{HashMap, HashSet};

use securechat_proto::ids::UserId;
use securechat_store::model::{AppendOutcome, NewMessage, StoredKey};
use securechat_store::StoreError;
use sqlx::{QueryBuilder, Row as _, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::{map_err, rows};

/// Rows per multi-row statement (at most 8 parameters each, well under SQLite's limit).
const ROWS_PER_STATEMENT: usize = 2048;

/// A message's idempotency key.
type Key = (UserId, [u8; 16]);

/// A message of the run that is new, with its places in both streams.
struct Fresh<'a> {
    message: &'a NewMessage,
    sender_seq: u64,
    recipient_seq: u64,
}

/// Stores a run of file-less messages, in order; outcomes match `run`.
pub(crate) async fn append_run(
    conn: &mut SqliteConnection,
    run: &[&NewMessage],
) -> Result<Vec<AppendOutcome>, StoreError> {
    let mut known = stored_keys(conn, run).await?;
    let mut new_users: Vec<UserId> = Vec::new();
    let mut claimed: HashSet<Key> = HashSet::new();
    for m in run {
        let key = (m.sender, m.msg_id);
        if !known.contains_key(&key) && claimed.insert(key) {
            new_users.extend([m.sender, m.recipient]);
        }
    }
    let mut last = last_seqs(conn, new_users).await?;
    let mut next = |user: UserId| {
        let seq = last.entry(user).or_insert(0);
        *seq += 1;
        *seq
    };

    // In run order: a key stored before answers from its row; a key first seen in this run is
    // new and takes the next `seq` of both users; a repeat within the run answers like a
    // resend of the first occurrence.
    let mut fresh = Vec::with_capacity(run.len());
    let mut outcomes = Vec::with_capacity(run.len());
    for m in run {
        let key = (m.sender, m.msg_id);
        if let Some(k) = known.get(&key) {
            outcomes.push(k.answer(m));
            continue;
        }
        let sender_seq = next(m.sender);
        let recipient_seq = next(m.recipient);
        known.insert(
            key,
            StoredKey {
                digest: m.digest,
                received_at: m.received_at,
                sender_seq,
            },
        );
        fresh.push(Fresh {
            message: m,
            sender_seq,
            recipient_seq,
        });
        outcomes.push(AppendOutcome::Stored {
            sender_seq,
            recipient_seq,
        });
    }
    for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
        insert_chunk(conn, chunk).await?;
    }
    Ok(outcomes)
}

/// Inserts new messages and their two stream entries each.
async fn insert_chunk(conn: &mut SqliteConnection, chunk: &[Fresh<'_>]) -> Result<(), StoreError> {
    // No `ON CONFLICT`: the run's keys were checked above under the single writer, so a
    // conflict here is a broken invariant and must fail the whole transaction.
    let mut insert: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
        "INSERT INTO messages (sender, msg_id, recipient, envelope, digest, received_at, \
         expires_at, sender_seq, recipient_seq) ",
    );
    insert.push_values(chunk, |mut row, f| {
        let m = f.message;
        row.push_bind(m.sender.0)
            .push_bind(&m.msg_id[..])
            .push_bind(m.recipient.0)
            .push_bind(&m.envelope)
            .push_bind(&m.digest[..])
            .push_bind(m.received_at)
            .push_bind(m.expires_at)
            .push_bind(rows::sql_int(f.sender_seq))
            .push_bind(rows::sql_int(f.recipient_seq));
    });
    insert.push(" RETURNING id, sender, msg_id");
    let mut ids: HashMap<Key, i64> = HashMap::with_capacity(chunk.len());
    for row in insert
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
    {
        let key = (rows::user_id(&row, "sender")?, rows::fixed(&row, "msg_id")?);
        ids.insert(key, row.try_get("id").map_err(map_err)?);
    }

    let mut insert: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new("INSERT INTO inbox (user_id, seq, kind, peer, message, ts) ");
    let mut entries = Vec::with_capacity(chunk.len() * 2);
    for f in chunk {
        let m = f.message;
        let id = ids
            .get(&(m.sender, m.msg_id))
            .copied()
            .ok_or_else(|| StoreError::Other("an inserted message has no id".into()))?;
        entries.push((m.sender, f.sender_seq, m.recipient, id, m.received_at));
        entries.push((m.recipient, f.recipient_seq, m.sender, id, m.received_at));
    }
    insert.push_values(&entries, |mut row, &(user, seq, peer, id, ts)| {
        row.push_bind(user.0)
            .push_bind(rows::sql_int(seq))
            .push_bind("message")
            .push_bind(peer.0)
            .push_bind(id)
            .push_bind(ts);
    });
    insert.build().execute(&mut *conn).await.map_err(map_err)?;
    Ok(())
}

/// What a message whose key is already stored is answered (`None`: the key is new).
pub(crate) async fn resend_answer(
    conn: &mut SqliteConnection,
    m: &NewMessage,
) -> Result<Option<AppendOutcome>, StoreError> {
    let known = stored_keys(conn, &[m]).await?;
    Ok(known.get(&(m.sender, m.msg_id)).map(|k| k.answer(m)))
}

/// The run's keys that are already stored, with what a resend of each is answered.
async fn stored_keys(
    conn: &mut SqliteConnection,
    run: &[&NewMessage],
) -> Result<HashMap<Key, StoredKey>, StoreError> {
    let mut known = HashMap::new();
    for chunk in run.chunks(ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            // The keys drive the loop (CROSS JOIN fixes the order) and each is one probe of
            // the unique index; `(sender, msg_id) IN (VALUES …)` would scan the whole table.
            "SELECT m.sender, m.msg_id, m.digest, m.received_at, m.sender_seq \
             FROM (VALUES ",
        );
        let mut list = query.separated(", ");
        for m in chunk {
            list.push("(");
            list.push_bind_unseparated(m.sender.0);
            list.push_unseparated(", ");
            list.push_bind_unseparated(&m.msg_id[..]);
            list.push_unseparated(")");
        }
        query.push(") AS k CROSS JOIN messages m ON m.sender = k.column1 AND m.msg_id = k.column2");
        for row in query.build().fetch_all(&mut *conn).await.map_err(map_err)? {
            known.insert(
                (rows::user_id(&row, "sender")?, rows::fixed(&row, "msg_id")?),
                StoredKey {
                    digest: rows::fixed(&row, "digest")?,
                    received_at: row.try_get("received_at").map_err(map_err)?,
                    sender_seq: rows::position(row.try_get("sender_seq").map_err(map_err)?)?,
                },
            );
        }
    }
    Ok(known)
}

/// The last `seq` of each of `users`.
pub(crate) async fn last_seqs(
    conn: &mut SqliteConnection,
    users: Vec<UserId>,
) -> Result<HashMap<UserId, u64>, StoreError> {
    let users: HashSet<Uuid> = users.into_iter().map(|u| u.0).collect();
    let users: Vec<Uuid> = users.into_iter().collect();
    let mut last = HashMap::with_capacity(users.len());
    for chunk in users.chunks(ROWS_PER_STATEMENT) {
        // A correlated MAX per user lets SQLite answer each from the (user_id, seq) key in
        // O(log n); `MAX … GROUP BY` over an IN list would scan every entry of every user.
        let mut query: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "SELECT column1 AS user_id, \
             (SELECT MAX(seq) FROM inbox WHERE user_id = column1) AS seq FROM (VALUES ",
        );
        let mut list = query.separated(", ");
        for user in chunk {
            list.push("(");
            list.push_bind_unseparated(*user);
            list.push_unseparated(")");
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await.map_err(map_err)? {
            let seq: Option<i64> = row.try_get("seq").map_err(map_err)?;
            last.insert(
                rows::user_id(&row, "user_id")?,
                rows::seq(seq.unwrap_or(0))?,
            );
        }
    }
    Ok(last)
}
