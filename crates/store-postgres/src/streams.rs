//! Users' event streams: the locked `streams` counters that hand out seqs, and the `inbox`
//! entries that hold the events.
//!
//! A transaction that adds events first locks the counter rows of every user it touches, in
//! one statement ordered by user id (`Streams::lock`), before it touches any message row; it
//! takes the next seqs from the locked counters, inserts its entries and stores the counters
//! back (`Streams::save`) before it commits. So appends to one user are serialised across
//! processes, seqs are gap-free, and no two transactions can wait for each other in a cycle.

use std::collections::{BTreeSet, HashMap};

use securechat_proto::ids::UserId;
use securechat_store::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{map_err, rows};

/// The stream counters locked by one transaction.
pub(crate) struct Streams {
    /// Each locked user's counter as read, then as advanced.
    last: HashMap<UserId, (u64, u64)>,
}

impl Streams {
    /// Locks the streams of `users` and reads their counters. `NotFound` when one of them has
    /// no stream (no such account).
    pub(crate) async fn lock(
        conn: &mut PgConnection,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Self, StoreError> {
        let users: BTreeSet<UserId> = users.into_iter().collect();
        let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
        let locked = sqlx::query(
            "SELECT user_id, last_seq FROM streams WHERE user_id = ANY($1) \
             ORDER BY user_id FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
        let mut last = HashMap::with_capacity(locked.len());
        for row in &locked {
            let seq = rows::seq(rows::get(row, "last_seq")?)?;
            last.insert(rows::user_id(row, "user_id")?, (seq, seq));
        }
        if last.len() != users.len() {
            return Err(StoreError::NotFound);
        }
        Ok(Self { last })
    }

    /// Takes the next seq of a locked stream.
    pub(crate) fn next(&mut self, user: UserId) -> Result<u64, StoreError> {
        let (_, seq) = self
            .last
            .get_mut(&user)
            .ok_or_else(|| StoreError::Other(format!("stream of {user} not locked").into()))?;
        *seq += 1;
        Ok(*seq)
    }

    /// Stores the counters that moved.
    pub(crate) async fn save(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let (users, seqs): (Vec<Uuid>, Vec<i64>) = self
            .last
            .iter()
            .filter(|(_, (read, now))| read != now)
            .map(|(user, (_, now))| (user.0, rows::sql_int(*now)))
            .unzip();
        if users.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE streams SET last_seq = v.seq \
             FROM UNNEST($1::uuid[], $2::bigint[]) AS v(user_id, seq) \
             WHERE streams.user_id = v.user_id",
        )
        .bind(&users)
        .bind(&seqs)
        .execute(conn)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

/// One new entry of a user's stream.
pub(crate) struct Entry<'a> {
    pub(crate) user: UserId,
    pub(crate) seq: u64,
    pub(crate) kind: &'static str,
    pub(crate) peer: UserId,
    pub(crate) message: Option<i64>,
    pub(crate) tombstone: Option<&'a str>,
    pub(crate) up_to: Option<i64>,
    pub(crate) ts: i64,
    pub(crate) group: Option<Uuid>,
}

/// Inserts stream entries, all in one statement.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    entries: &[Entry<'_>],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = entries.len();
    let mut user = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut peer = Vec::with_capacity(n);
    let mut message = Vec::with_capacity(n);
    let mut tombstone = Vec::with_capacity(n);
    let mut up_to = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut group = Vec::with_capacity(n);
    for e in entries {
        user.push(e.user.0);
        seq.push(rows::sql_int(e.seq));
        kind.push(e.kind);
        peer.push(e.peer.0);
        message.push(e.message);
        tombstone.push(e.tombstone);
        up_to.push(e.up_to);
        ts.push(e.ts);
        group.push(e.group);
    }
    sqlx::query(
        "INSERT INTO inbox (user_id, seq, kind, peer, message, tombstone, up_to, ts, group_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::uuid[], $5::bigint[], \
                              $6::text[], $7::bigint[], $8::bigint[], $9::uuid[])",
    )
    .bind(&user)
    .bind(&seq)
    .bind(&kind)
    .bind(&peer)
    .bind(&message)
    .bind(&tombstone)
    .bind(&up_to)
    .bind(&ts)
    .bind(&group)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}
