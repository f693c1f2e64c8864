//! Two store instances on one database (two server processes) racing each other: the
//! contract's guarantees must come from the database, not from a lock inside one process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use rand::seq::SliceRandom as _;
use securechat_proto::ids::UserId;
use securechat_store::error::Conflict;
use securechat_store::model::{
    Admission, AppendOutcome, InboxEvent, IpLimits, NewMessage, RefreshOutcome,
};
use securechat_store::{Store, StoreError};
use tokio::sync::Barrier;

use super::{key, message, msg_id, new_user, session, user, T0};

/// Runs `tasks` tasks at once, task `i` on node `i % 2`, all released together; their
/// results in task order.
async fn race<T, F, Fut>(nodes: [&Arc<dyn Store>; 2], tasks: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, Arc<dyn Store>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let barrier = barrier.clone();
            let job = work(i, nodes[i % 2].clone());
            tokio::spawn(async move {
                barrier.wait().await;
                job.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks);
    for handle in handles {
        results.push(handle.await.expect("a racing task panicked"));
    }
    results
}

/// The seqs of `user`'s stream handed out by `outcomes` of `messages` (and `extra` ones):
/// they must be exactly 1..=last_seq, each once.
async fn assert_gap_free(store: &dyn Store, user: UserId, seqs: impl IntoIterator<Item = u64>) {
    let mut seqs: Vec<u64> = seqs.into_iter().collect();
    seqs.sort_unstable();
    let last = store.last_seq(user).await.expect("last seq");
    let expected: Vec<u64> = (1..=last).collect();
    assert_eq!(seqs, expected, "the stream of {user} has a gap or a repeat");
}

/// Concurrent appends from both nodes (to shared recipients and to each other, so the
/// batches' lock sets overlap in every order) give every stream gap-free seqs, store each
/// message once, and keep message ids growing with seqs (history order).
pub async fn concurrent_appends_keep_streams_gap_free(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const BATCHES: u64 = 10;
    const PER_BATCH: u64 = 25;
    let shared = [user(&*a, "hub1").await, user(&*a, "hub2").await];
    let mut senders = Vec::new();
    for i in 0..TASKS {
        senders.push(user(&*a, &format!("sender{i}")).await);
    }
    let senders = Arc::new(senders);
    let results = race([&a, &b], TASKS, |i, store| {
        let senders = senders.clone();
        async move {
            let me = senders[i];
            let mut sent: Vec<(NewMessage, AppendOutcome)> = Vec::new();
            for k in 0..BATCHES {
                let batch: Vec<NewMessage> = (0..PER_BATCH)
                    .map(|j| {
                        let n = (i as u64) * 10_000 + k * PER_BATCH + j;
                        let to = match j % 5 {
                            4 => senders[(i + 1) % TASKS],
                            0 | 2 => shared[0],
                            _ => shared[1],
                        };
                        message(me, to, n, &format!("{i}/{n}"))
                    })
                    .collect();
                let outcomes = store.append_messages(&batch).await.expect("append");
                sent.extend(batch.into_iter().zip(outcomes));
            }
            sent
        }
    })
    .await;

    // Who got which seq, per user: (seq -> (sender, envelope)).
    let mut streams: HashMap<UserId, BTreeMap<u64, (UserId, String)>> = HashMap::new();
    for sent in &results {
        let mut last_sender_seq = 0;
        for (m, outcome) in sent {
            let AppendOutcome::Stored {
                sender_seq,
                recipient_seq,
            } = *outcome
            else {
                panic!("a new message was not stored: {outcome:?}");
            };
            assert!(sender_seq > last_sender_seq, "one task's seqs go up");
            last_sender_seq = sender_seq;
            for (who, seq) in [(m.sender, sender_seq), (m.recipient, recipient_seq)] {
                let before = streams
                    .entry(who)
                    .or_default()
                    .insert(seq, (m.sender, m.envelope.clone()));
                assert!(before.is_none(), "seq {seq} of {who} given twice");
            }
        }
    }
    let total = TASKS as u64 * BATCHES * PER_BATCH;
    for (who, stream) in &streams {
        assert_gap_free(&*b, *who, stream.keys().copied()).await;
        let page = b
            .events_since(*who, 0, u32::try_from(total).unwrap_or(u32::MAX), T0)
            .await
            .expect("events");
        let seen: BTreeMap<u64, (UserId, String)> = page
            .events
            .iter()
            .map(|e| match e {
                InboxEvent::Message(m) => (m.seq, (m.from, m.envelope.clone())),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(&seen, stream, "the stream of {who} as read back");
    }
    for hub in shared {
        for &sender in senders.iter() {
            let history = a
                .history(
                    hub,
                    sender,
                    None,
                    u32::try_from(total).unwrap_or(u32::MAX),
                    T0,
                )
                .await
                .expect("history");
            assert!(!history.is_empty());
            assert!(
                history.windows(2).all(|w| w[0].seq > w[1].seq),
                "history (message id order) and seq order agree"
            );
        }
    }
}

/// The same message sent at once from both nodes is stored once; every other attempt is
/// answered with the stored one's seq (or `Conflict` for other content under the same id).
pub async fn concurrent_resends_store_one_message(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const ROUNDS: u64 = 5;
    let sender = user(&*a, "resender").await;
    let recipient = user(&*a, "resent").await;
    for round in 1..=ROUNDS {
        let results = race([&a, &b], TASKS, |i, store| async move {
            let body = if i % 3 == 2 { "other" } else { "same" };
            let mut m = message(sender, recipient, round, body);
            m.received_at = T0 + i as i64;
            let outcome = store.append_messages(&[m]).await.expect("append");
            (body, T0 + i as i64, outcome[0])
        })
        .await;
        let stored: Vec<_> = results
            .iter()
            .filter(|(_, _, o)| matches!(o, AppendOutcome::Stored { .. }))
            .collect();
        assert_eq!(stored.len(), 1, "exactly one attempt stores: {results:?}");
        let (winner, received_at, outcome) = *stored[0];
        assert_eq!(
            outcome,
            AppendOutcome::Stored {
                sender_seq: round,
                recipient_seq: round
            }
        );
        for &(body, _, o) in &results {
            if matches!(o, AppendOutcome::Stored { .. }) {
                continue;
            }
            let expected = if body == winner {
                AppendOutcome::Duplicate {
                    sender_seq: round,
                    received_at,
                }
            } else {
                AppendOutcome::Conflict
            };
            assert_eq!(o, expected);
        }
    }
    let page = b.events_since(recipient, 0, 100, T0).await.expect("events");
    assert_eq!(page.events.len(), ROUNDS as usize);
    assert_eq!(a.last_seq(sender).await.expect("last"), ROUNDS);
}

/// One refresh token presented at once from both nodes is rotated exactly once.
pub async fn concurrent_refreshes_rotate_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const TASKS: usize = 8;
    let grace = 60_000;
    let id = user(&*a, "racer").await;

    // Same successor (one client's parallel requests): all answered `Rotated`.
    let s = session(id, "192.0.2.1", T0, [1; 32]);
    a.create_session(s.clone(), None).await.expect("login");
    let results = race([&a, &b], TASKS, |i, store| async move {
        store
            .rotate_refresh([1; 32], [2; 32], T0 + 10 + i as i64, T0 + 9_000_000, grace)
            .await
            .expect("rotate")
    })
    .await;
    let rotated = RefreshOutcome::Rotated {
        session: s.id,
        user: id,
    };
    assert!(results.iter().all(|r| *r == rotated), "{results:?}");
    let next = b
        .rotate_refresh([2; 32], [3; 32], T0 + 100, T0 + 9_000_000, grace)
        .await
        .expect("rotate");
    assert_eq!(next, rotated, "the one successor is current");

    // Different successors (a stolen token racing its owner): one rotation, then reuse.
    let s = session(id, "192.0.2.1", T0, [10; 32]);
    a.create_session(s.clone(), None).await.expect("login");
    let results = race([&a, &b], TASKS, |i, store| async move {
        let new = [20 + i as u8; 32];
        store
            .rotate_refresh([10; 32], new, T0 + 10, T0 + 9_000_000, grace)
            .await
            .expect("rotate")
    })
    .await;
    let count = |wanted: fn(&RefreshOutcome) -> bool| results.iter().filter(|r| wanted(r)).count();
    assert_eq!(
        count(|r| matches!(r, RefreshOutcome::Rotated { .. })),
        1,
        "{results:?}"
    );
    assert!(count(|r| matches!(r, RefreshOutcome::Reused { .. })) >= 1);
    assert_eq!(
        count(|r| matches!(
            r,
            RefreshOutcome::Rotated { .. } | RefreshOutcome::Reused { .. }
        )) + count(|r| *r == RefreshOutcome::Invalid),
        TASKS
    );
    let row = a.get_session(s.id).await.expect("get").expect("session");
    assert!(row.revoked_at.is_some(), "reuse revoked the session");
}

/// Logins racing at the IP rule's edge from both nodes: never more admitted than allowed.
pub async fn concurrent_logins_respect_the_ip_rule(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const TASKS: usize = 12;
    let limits = IpLimits {
        max_ips_per_user: 3,
        refuse_users_per_ip: 4,
    };
    let roamer = user(&*a, "roamer").await;
    let results = race([&a, &b], TASKS, |i, store| async move {
        let s = session(roamer, &format!("198.51.100.{}", i + 1), T0, [i as u8; 32]);
        store.create_session(s, Some(limits)).await.expect("login")
    })
    .await;
    let admitted = results
        .iter()
        .filter(|r| **r == Admission::Admitted)
        .count();
    assert_eq!(admitted, 3, "{results:?}");
    assert!(results.iter().all(|r| matches!(
        r,
        Admission::Admitted | Admission::TooManyIpsForUser { ips: 4 }
    )));

    let mut crowd = Vec::new();
    for i in 0..TASKS {
        crowd.push(user(&*a, &format!("crowd{i}")).await);
    }
    let crowd = Arc::new(crowd);
    let results = race([&a, &b], TASKS, |i, store| {
        let crowd = crowd.clone();
        async move {
            let s = session(crowd[i], "203.0.113.50", T0, [100 + i as u8; 32]);
            store.create_session(s, Some(limits)).await.expect("login")
        }
    })
    .await;
    let admitted = results
        .iter()
        .filter(|r| **r == Admission::Admitted)
        .count();
    assert_eq!(admitted, 3, "{results:?}");
    assert!(results.iter().all(|r| matches!(
        r,
        Admission::Admitted | Admission::TooManyUsersOnIp { users: 4 }
    )));
    assert_eq!(b.count_active_sessions(T0).await.expect("count"), 6);
}

/// Keys published at once from both nodes: each publish succeeds or is refused with a
/// conflict; the history stays ordered by creation with exactly one active key.
pub async fn concurrent_key_publishes_stay_ordered(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    for round in 0..3 {
        publish_race(&a, &b, &format!("publisher{round}")).await;
    }
}

/// One round of `concurrent_key_publishes_stay_ordered`, on a new account.
async fn publish_race(a: &Arc<dyn Store>, b: &Arc<dyn Store>, name: &str) {
    const TASKS: usize = 12;
    let account = new_user(name);
    let id = account.id;
    a.create_user(account).await.expect("create");
    let mut order: Vec<i64> = (1..=TASKS as i64).collect();
    order.shuffle(&mut rand::thread_rng());
    let order = Arc::new(order);
    let results = race([a, b], TASKS, |i, store| {
        let order = order.clone();
        async move {
            let k = key(i as u8 + 1, T0 + order[i]);
            let result = store.add_key(id, k.clone()).await;
            (k, result)
        }
    })
    .await;
    let mut published = HashSet::new();
    for (k, result) in &results {
        match result {
            Ok(()) => {
                published.insert(k.key_id);
            }
            Err(StoreError::Conflict(Conflict::KeyOrder)) => {}
            Err(e) => panic!("a publish failed otherwise than by conflict: {e}"),
        }
    }
    assert!(!published.is_empty());
    let check = |keys: &[securechat_store::model::EncryptionKeyRow]| {
        assert!(keys.windows(2).all(|w| w[0].created_at < w[1].created_at));
        let active: Vec<_> = keys
            .iter()
            .filter(|k| k.status == securechat_proto::keys::KeyStatus::Active)
            .collect();
        assert_eq!(active.len(), 1);
        assert_eq!(Some(active[0]), keys.last());
    };
    let keys = b.list_keys(id).await.expect("keys");
    assert_eq!(keys.len(), 1 + published.len());
    check(&keys);
    let listed: HashSet<_> = keys[1..].iter().map(|k| k.key_id).collect();
    assert_eq!(listed, published);

    // The very same key from both nodes: published once.
    let results = race([a, b], 6, |_, store| async move {
        store.add_key(id, key(200, T0 + 1_000)).await
    })
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(())
            | Err(StoreError::Conflict(
                Conflict::EncryptionKey | Conflict::KeyOrder
            ))
    )));
    let keys = a.list_keys(id).await.expect("keys");
    check(&keys);
    assert_eq!(keys.last().map(|k| k.key_id), Some([200; 8]));
}

/// Expiry running on both nodes at once removes each message once; concurrent deletions of
/// one message remove it once; streams stay gap-free.
pub async fn concurrent_deletes_and_expiry_remove_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let mut people = Vec::new();
    for i in 0..4 {
        people.push(user(&*a, &format!("p{i}")).await);
    }
    let mut seqs: HashMap<UserId, Vec<u64>> = HashMap::new();
    let mut batch = Vec::new();
    for n in 0..40u64 {
        let i = n as usize % 4;
        let (from, to) = if n % 2 == 0 {
            (people[i], people[(i + 1) % 4])
        } else {
            (people[(i + 1) % 4], people[i])
        };
        let mut m = message(from, to, n, "x");
        if n < 30 {
            m.expires_at = Some(T0 + 100);
        }
        batch.push(m);
    }
    let outcomes = a.append_messages(&batch).await.expect("append");
    for (m, outcome) in batch.iter().zip(outcomes) {
        let AppendOutcome::Stored {
            sender_seq,
            recipient_seq,
        } = outcome
        else {
            panic!("not stored: {outcome:?}");
        };
        seqs.entry(m.sender).or_default().push(sender_seq);
        seqs.entry(m.recipient).or_default().push(recipient_seq);
    }
    let undying: Arc<Vec<(UserId, [u8; 16])>> =
        Arc::new(batch[30..].iter().map(|m| (m.sender, m.msg_id)).collect());

    let results = race([&a, &b], 8, |i, store| {
        let undying = undying.clone();
        async move {
            let mut removals = Vec::new();
            if i < 4 {
                loop {
                    let got = store.expire_messages(T0 + 1_000, 4).await.expect("expire");
                    if got.is_empty() {
                        break;
                    }
                    removals.extend(got);
                }
            } else {
                for &(sender, id) in undying.iter() {
                    let got = store
                        .delete_message(sender, id, "tomb", T0 + 1_000)
                        .await
                        .expect("delete");
                    removals.extend(got);
                }
            }
            removals
        }
    })
    .await;
    let mut removals: Vec<_> = results.into_iter().flatten().collect();
    loop {
        let got = b.expire_messages(T0 + 1_000, 100).await.expect("expire");
        if got.is_empty() {
            break;
        }
        removals.extend(got);
    }
    assert_eq!(removals.len(), 40, "every message removed");
    let keys: HashSet<_> = removals.iter().map(|r| (r.sender, r.msg_id)).collect();
    assert_eq!(keys.len(), 40, "each message removed once");
    assert!(keys.contains(&(batch[0].sender, msg_id(0))));
    for r in &removals {
        for &(user, seq) in &r.streams {
            seqs.entry(user).or_default().push(seq);
        }
    }
    for (who, list) in seqs {
        assert_gap_free(&*a, who, list).await;
        let page = b
            .events_since(who, 0, 1_000, T0 + 2_000)
            .await
            .expect("events");
        assert!(
            page.events
                .iter()
                .all(|e| matches!(e, InboxEvent::Deleted { .. })),
            "only deletions remain visible"
        );
    }
}
