//! The fast path of `append_messages`: a run of messages without files is stored with three
//! statements however long it is — one multi-row insert of the messages, one read of the
//! users' last `seq`, one multi-row insert of the stream entries — instead of three per
//! message. This is what lets one writer keep up with tens of thousands of messages a second.

use std::collections::{HashMap, HashSet};

use securechat_proto::ids::UserId;
use securechat_store::model::{AppendOutcome, NewMessage};
use securechat_store::StoreError;
use sqlx::{QueryBuilder, Row as _, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::messages::existing;
use crate::{map_err, rows};

/// Stream entries inserted per statement (6 parameters each, well under SQLite's limit).
const INBOX_ROWS_PER_INSERT: usize = 2048;

/// One stream entry for a stored message.
struct Entry {
    user: UserId,
    seq: u64,
    peer: UserId,
    message: i64,
    ts: i64,
}

/// Stores a run of file-less messages, in order; outcomes match `run`.
pub(crate) async fn append_run(
    conn: &mut SqliteConnection,
    run: &[&NewMessage],
) -> Result<Vec<AppendOutcome>, StoreError> {
    let mut insert: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
        "INSERT INTO messages (sender, msg_id, recipient, envelope, digest, received_at, expires_at) ",
    );
    insert.push_values(run, |mut row, m| {
        row.push_bind(m.sender.0)
            .push_bind(&m.msg_id[..])
            .push_bind(m.recipient.0)
            .push_bind(&m.envelope)
            .push_bind(&m.digest[..])
            .push_bind(m.received_at)
            .push_bind(m.expires_at);
    });
    insert.push(" ON CONFLICT (sender, msg_id) DO NOTHING RETURNING id, sender, msg_id");
    let mut inserted = HashMap::new();
    for row in insert
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
    {
        let id: i64 = row.try_get("id").map_err(map_err)?;
        let msg_id: [u8; 16] = rows::fixed(&row, "msg_id")?;
        inserted.insert((rows::user_id(&row, "sender")?, msg_id), id);
    }

    // The first occurrence of each inserted (sender, msg_id) is the stored one; a repeat in
    // the same run is a duplicate, settled below like any other.
    let mut claimed = HashSet::new();
    let stored: Vec<Option<i64>> = run
        .iter()
        .map(|m| {
            let key = (m.sender, m.msg_id);
            inserted.get(&key).copied().filter(|_| claimed.insert(key))
        })
        .collect();

    let mut last = last_seqs(conn, run, &stored).await?;
    let mut next = |user: UserId| {
        let seq = last.entry(user).or_insert(0);
        *seq += 1;
        *seq
    };
    let mut entries = Vec::with_capacity(run.len() * 2);
    let mut outcomes: Vec<Option<AppendOutcome>> = vec![None; run.len()];
    for (i, m) in run.iter().enumerate() {
        let Some(message) = stored[i] else { continue };
        let sender_seq = next(m.sender);
        let recipient_seq = next(m.recipient);
        entries.push(Entry {
            user: m.sender,
            seq: sender_seq,
            peer: m.recipient,
            message,
            ts: m.received_at,
        });
        entries.push(Entry {
            user: m.recipient,
            seq: recipient_seq,
            peer: m.sender,
            message,
            ts: m.received_at,
        });
        outcomes[i] = Some(AppendOutcome::Stored {
            sender_seq,
            recipient_seq,
        });
    }
    for chunk in entries.chunks(INBOX_ROWS_PER_INSERT) {
        let mut insert: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("INSERT INTO inbox (user_id, seq, kind, peer, message, ts) ");
        insert.push_values(chunk, |mut row, e| {
            row.push_bind(e.user.0)
                .push_bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
                .push_bind("message")
                .push_bind(e.peer.0)
                .push_bind(e.message)
                .push_bind(e.ts);
        });
        insert.build().execute(&mut *conn).await.map_err(map_err)?;
    }

    let mut settled = Vec::with_capacity(run.len());
    for (m, outcome) in run.iter().zip(outcomes) {
        let outcome = match outcome {
            Some(o) => o,
            None => existing(conn, m)
                .await?
                .ok_or_else(|| StoreError::Other("message vanished during insert".into()))?,
        };
        settled.push(outcome);
    }
    Ok(settled)
}

/// The last `seq` of every user a stored message of the run touches.
async fn last_seqs(
    conn: &mut SqliteConnection,
    run: &[&NewMessage],
    stored: &[Option<i64>],
) -> Result<HashMap<UserId, u64>, StoreError> {
    let users: HashSet<Uuid> = run
        .iter()
        .zip(stored)
        .filter(|(_, s)| s.is_some())
        .flat_map(|(m, _)| [m.sender.0, m.recipient.0])
        .collect();
    let mut last = HashMap::with_capacity(users.len());
    if users.is_empty() {
        return Ok(last);
    }
    // A correlated MAX per user lets SQLite answer each from the (user_id, seq) key in
    // O(log n); `MAX … GROUP BY` over an IN list would scan every entry of every user.
    let mut query: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
        "SELECT column1 AS user_id, \
         (SELECT MAX(seq) FROM inbox WHERE user_id = column1) AS seq FROM (VALUES ",
    );
    let mut list = query.separated(", ");
    for user in &users {
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
    Ok(last)
}
