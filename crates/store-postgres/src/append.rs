//! `append_messages`: a whole batch in one transaction, with a fixed number of statements
//! however long it is.
//!
//! 1. Lock the streams of every sender and recipient of the batch (one statement, user-id
//!    order). Every append touching one of these users now waits for this one, so no other
//!    process can store a key of these senders or give out seqs of these users until commit.
//! 2. Read which `(sender, msg_id)` keys are stored already (read committed: this statement
//!    sees everything committed before the lock was granted).
//! 3. Lock the files the batch references.
//! 4. In batch order, settle each message exactly as the SQLite backend does: a stored key
//!    (or one first seen earlier in the batch) answers `Duplicate` or `Conflict`, unusable
//!    files `BadFile`, and a new message takes the next seq of its sender and its recipient.
//! 5. Take the new messages' ids from the identity sequence, sorted, so a message's id grows
//!    with its seq in both streams (ids are drawn while the streams are locked).
//! 6. Insert the messages, then their two stream entries each (`UNNEST` arrays), attach the
//!    files, store the counters.

use std::collections::HashMap;

use securechat_proto::ids::UserId;
use securechat_store::model::{AppendOutcome, NewMessage, StoredKey};
use securechat_store::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::attach::Attachments;
use crate::streams::{self, Entry, Streams};
use crate::{map_err, rows};

/// A message's idempotency key.
type Key = (UserId, [u8; 16]);

/// A new message of the batch, with its places in both streams.
struct Fresh<'a> {
    message: &'a NewMessage,
    sender_seq: u64,
    recipient_seq: u64,
}

/// Stores a batch inside the caller's transaction; outcomes match `batch`.
pub(crate) async fn append(
    conn: &mut PgConnection,
    batch: &[NewMessage],
) -> Result<Vec<AppendOutcome>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut streams = Streams::lock(
        &mut *conn,
        batch.iter().flat_map(|m| [m.sender, m.recipient]),
    )
    .await?;
    let gone = deleted_among(&mut *conn, batch).await?;
    let mut known = stored_keys(&mut *conn, batch).await?;
    let mut files = Attachments::lock(&mut *conn, batch).await?;

    let mut fresh = Vec::with_capacity(batch.len());
    let mut outcomes = Vec::with_capacity(batch.len());
    for m in batch {
        if gone.contains(&m.sender) || gone.contains(&m.recipient) {
            outcomes.push(AppendOutcome::Gone);
            continue;
        }
        let key = (m.sender, m.msg_id);
        if let Some(k) = known.get(&key) {
            outcomes.push(k.answer(m));
            continue;
        }
        if !m.files.is_empty() && !files.claim(m, fresh.len()) {
            outcomes.push(AppendOutcome::BadFile);
            continue;
        }
        let sender_seq = streams.next(m.sender)?;
        let recipient_seq = streams.next(m.recipient)?;
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
    if fresh.is_empty() {
        return Ok(outcomes);
    }
    let ids = new_ids(&mut *conn, fresh.len()).await?;
    insert_messages(&mut *conn, &fresh, &ids).await?;
    let mut entries = Vec::with_capacity(fresh.len() * 2);
    for (f, &id) in fresh.iter().zip(&ids) {
        let m = f.message;
        let entry = |user, seq, peer| Entry {
            user,
            seq,
            kind: "message",
            peer,
            message: Some(id),
            tombstone: None,
            up_to: None,
            ts: m.received_at,
            group: None,
        };
        entries.push(entry(m.sender, f.sender_seq, m.recipient));
        entries.push(entry(m.recipient, f.recipient_seq, m.sender));
    }
    streams::insert(&mut *conn, &entries).await?;
    files.save(&mut *conn, &ids).await?;
    streams.save(conn).await?;
    Ok(outcomes)
}

/// The batch's users whose accounts are deleted. Read under the streams' locks: an account
/// deletion locks the account's stream too, so it is either committed (and seen here) or
/// waits for this append (and then removes what it stored).
async fn deleted_among(
    conn: &mut PgConnection,
    batch: &[NewMessage],
) -> Result<std::collections::HashSet<UserId>, StoreError> {
    let users: Vec<Uuid> = batch
        .iter()
        .flat_map(|m| [m.sender.0, m.recipient.0])
        .collect();
    sqlx::query("SELECT id FROM users WHERE id = ANY($1) AND deleted_at IS NOT NULL")
        .bind(&users)
        .fetch_all(conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| rows::user_id(r, "id"))
        .collect()
}

/// `n` new message ids, ascending.
pub(crate) async fn new_ids(conn: &mut PgConnection, n: usize) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)",
    )
    .bind(rows::sql_int(n as u64))
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    if ids.len() != n {
        return Err(StoreError::Other("the id sequence gave too few ids".into()));
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Inserts the new messages with their ids and stream positions, in one statement.
async fn insert_messages(
    conn: &mut PgConnection,
    fresh: &[Fresh<'_>],
    ids: &[i64],
) -> Result<(), StoreError> {
    let n = fresh.len();
    let mut sender = Vec::with_capacity(n);
    let mut msg_id: Vec<&[u8]> = Vec::with_capacity(n);
    let mut recipient = Vec::with_capacity(n);
    let mut envelope = Vec::with_capacity(n);
    let mut digest: Vec<&[u8]> = Vec::with_capacity(n);
    let mut received_at = Vec::with_capacity(n);
    let mut expires_at = Vec::with_capacity(n);
    let mut sender_seq = Vec::with_capacity(n);
    let mut recipient_seq = Vec::with_capacity(n);
    for f in fresh {
        let m = f.message;
        sender.push(m.sender.0);
        msg_id.push(&m.msg_id[..]);
        recipient.push(m.recipient.0);
        envelope.push(m.envelope.as_str());
        digest.push(&m.digest[..]);
        received_at.push(m.received_at);
        expires_at.push(m.expires_at);
        sender_seq.push(rows::sql_int(f.sender_seq));
        recipient_seq.push(rows::sql_int(f.recipient_seq));
    }
    // No `ON CONFLICT`: the keys were read under the senders' stream locks, so a conflict
    // here is a broken invariant and must fail the whole transaction.
    sqlx::query(
        "INSERT INTO messages (id, sender, msg_id, recipient, envelope, digest, received_at, \
                               expires_at, sender_seq, recipient_seq) \
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::bytea[], $4::uuid[], $5::text[], \
                              $6::bytea[], $7::bigint[], $8::bigint[], $9::bigint[], \
                              $10::bigint[])",
    )
    .bind(ids)
    .bind(&sender)
    .bind(&msg_id)
    .bind(&recipient)
    .bind(&envelope)
    .bind(&digest)
    .bind(&received_at)
    .bind(&expires_at)
    .bind(&sender_seq)
    .bind(&recipient_seq)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// The batch's keys that are stored already, with what a resend of each is answered.
pub(crate) async fn stored_keys(
    conn: &mut PgConnection,
    batch: &[NewMessage],
) -> Result<HashMap<Key, StoredKey>, StoreError> {
    let senders: Vec<Uuid> = batch.iter().map(|m| m.sender.0).collect();
    let msg_ids: Vec<&[u8]> = batch.iter().map(|m| &m.msg_id[..]).collect();
    // One probe of the unique key per message, whatever the planner believes about the
    // table: `LIMIT 1` (the key is unique, so it changes nothing) keeps the lateral subquery
    // from being flattened into a join, which a generic plan made while `messages` was small
    // and unanalysed ran as a hash join over a sequential scan of every message.
    let found = sqlx::query(
        "SELECT m.sender, m.msg_id, m.digest, m.received_at, m.sender_seq \
         FROM UNNEST($1::uuid[], $2::bytea[]) AS k(sender, msg_id) \
         CROSS JOIN LATERAL ( \
             SELECT sender, msg_id, digest, received_at, sender_seq FROM messages \
             WHERE sender = k.sender AND msg_id = k.msg_id LIMIT 1) AS m",
    )
    .bind(&senders)
    .bind(&msg_ids)
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    let mut known = HashMap::with_capacity(found.len());
    for row in &found {
        known.insert(
            (rows::user_id(row, "sender")?, rows::fixed(row, "msg_id")?),
            StoredKey {
                digest: rows::fixed(row, "digest")?,
                received_at: rows::get(row, "received_at")?,
                sender_seq: rows::seq(rows::get(row, "sender_seq")?)?,
            },
        );
    }
    Ok(known)
}
