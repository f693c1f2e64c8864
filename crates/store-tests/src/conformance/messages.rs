//! Appending, resends, read receipts, reading streams and conversation history.

use std::sync::Arc;

use securechat_store::model::{AppendOutcome, InboxEvent, NewMessage, StoredMessage};
use securechat_store::Store;

use super::{message, msg_id, user, T0};

/// Seqs of the Message events of a page.
fn message_seqs(events: &[InboxEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            InboxEvent::Message(m) => Some(m.seq),
            _ => None,
        })
        .collect()
}

/// Each new message takes the next seq of both users, in batch order; a resend (in the same
/// batch or later) answers the original seq, different content under a used id conflicts.
pub async fn messages_get_gap_free_seqs_and_resends_are_settled(store: Arc<dyn Store>) {
    let (a, b, c) = (
        user(&*store, "aa").await,
        user(&*store, "bb").await,
        user(&*store, "cc").await,
    );
    let one = message(a, b, 1, "one");
    let mut one_again = one.clone();
    one_again.received_at = T0 + 50;
    let batch = vec![
        one.clone(),
        message(c, b, 2, "two"),
        one_again.clone(),
        message(a, b, 1, "uno"),
        message(b, a, 3, "three"),
    ];
    let duplicate = AppendOutcome::Duplicate {
        sender_seq: 1,
        received_at: one.received_at,
    };
    let stored = |sender_seq, recipient_seq| AppendOutcome::Stored {
        sender_seq,
        recipient_seq,
    };
    assert_eq!(
        store.append_messages(&batch).await.expect("append"),
        vec![
            stored(1, 1),
            stored(1, 2),
            duplicate,
            AppendOutcome::Conflict,
            stored(3, 2)
        ]
    );
    let batch = vec![one_again, message(a, b, 1, "uno"), message(a, b, 4, "four")];
    assert_eq!(
        store.append_messages(&batch).await.expect("append"),
        vec![duplicate, AppendOutcome::Conflict, stored(3, 4)]
    );
    assert_eq!(store.append_messages(&[]).await.expect("append"), vec![]);
    for (who, last) in [(a, 3), (b, 4), (c, 1)] {
        assert_eq!(store.last_seq(who).await.expect("last seq"), last);
    }

    let page = store.events_since(b, 0, 100, T0).await.expect("events");
    let seen: Vec<_> = page
        .events
        .iter()
        .map(|e| match e {
            InboxEvent::Message(m) => (m.seq, m.from, m.envelope.as_str(), m.ts, m.expires_at),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, a, "one", T0 + 1, None),
            (2, c, "two", T0 + 2, None),
            (3, b, "three", T0 + 3, None),
            (4, a, "four", T0 + 4, None),
        ]
    );
    assert_eq!((page.last_scanned, page.more), (4, false));
}

/// A read receipt is an event of the peer's stream (not the reader's).
pub async fn read_receipts_go_to_the_peers_stream(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "writer").await, user(&*store, "reader").await);
    store
        .append_messages(&[message(a, b, 1, "hello")])
        .await
        .expect("append");
    let seq = store
        .record_read(b, a, T0 + 1, T0 + 10)
        .await
        .expect("read");
    assert_eq!(seq, 2);
    assert_eq!(store.last_seq(a).await.expect("last"), 2);
    assert_eq!(store.last_seq(b).await.expect("last"), 1);
    let page = store.events_since(a, 1, 10, T0 + 10).await.expect("events");
    assert_eq!(
        page.events,
        vec![InboxEvent::Read {
            seq: 2,
            peer: b,
            up_to: T0 + 1,
            group: None,
        }]
    );
    let page = store.events_since(b, 1, 10, T0 + 10).await.expect("events");
    assert!(page.events.is_empty());
}

/// Pages of a stream: at most `limit` entries scanned, removed messages left out (their
/// deletion follows), `last_scanned` and `more` to resume.
pub async fn event_pages_resume_where_they_stopped(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "pager").await, user(&*store, "paged").await);
    let batch: Vec<NewMessage> = (1..=5).map(|n| message(a, b, n, "m")).collect();
    store.append_messages(&batch).await.expect("append");
    store
        .delete_message(a, msg_id(2), "tomb", T0 + 100)
        .await
        .expect("delete")
        .expect("removed");
    let now = T0 + 200;

    let page = store.events_since(b, 0, 3, now).await.expect("events");
    assert_eq!(message_seqs(&page.events), vec![1, 3]);
    assert_eq!(page.events.len(), 2);
    assert_eq!((page.last_scanned, page.more), (3, true));

    let page = store.events_since(b, 3, 3, now).await.expect("events");
    assert_eq!(message_seqs(&page.events), vec![4, 5]);
    assert_eq!(
        page.events.last(),
        Some(&InboxEvent::Deleted {
            seq: 6,
            msg_id: msg_id(2),
            from: a,
            tombstone: Some("tomb".to_owned()),
            group: None,
        })
    );
    assert_eq!((page.last_scanned, page.more), (6, true));

    let page = store.events_since(b, 6, 3, now).await.expect("events");
    assert!(page.events.is_empty());
    assert_eq!((page.last_scanned, page.more), (6, false));
}

/// A conversation's live messages, newest first, each with its seq in the asking user's
/// stream, paged with `before`.
pub async fn history_pages_back_through_a_conversation(store: Arc<dyn Store>) {
    let (a, b, c) = (
        user(&*store, "histo").await,
        user(&*store, "rian").await,
        user(&*store, "noise").await,
    );
    // (user's seq, the message) of every live message between a and b, per side.
    let mut for_a: Vec<StoredMessage> = Vec::new();
    let mut for_b: Vec<StoredMessage> = Vec::new();
    for chunk in (1..=24u64).collect::<Vec<_>>().chunks(5) {
        let batch: Vec<NewMessage> = chunk
            .iter()
            .map(|&n| match n % 3 {
                0 => message(a, c, n, &format!("noise {n}")),
                1 => message(a, b, n, &format!("a to b {n}")),
                _ => message(b, a, n, &format!("b to a {n}")),
            })
            .collect();
        let outcomes = store.append_messages(&batch).await.expect("append");
        for (m, outcome) in batch.iter().zip(outcomes) {
            let AppendOutcome::Stored {
                sender_seq,
                recipient_seq,
            } = outcome
            else {
                panic!("not stored: {outcome:?}");
            };
            if m.recipient == c {
                continue;
            }
            let seen = |seq| StoredMessage {
                seq,
                from: m.sender,
                group: None,
                ts: m.received_at,
                envelope: m.envelope.clone(),
                expires_at: None,
            };
            let (seq_a, seq_b) = if m.sender == a {
                (sender_seq, recipient_seq)
            } else {
                (recipient_seq, sender_seq)
            };
            for_a.push(seen(seq_a));
            for_b.push(seen(seq_b));
        }
    }
    // Deleted messages are not history.
    store
        .delete_message(a, msg_id(4), "tomb", T0 + 100)
        .await
        .expect("delete")
        .expect("removed");
    for list in [&mut for_a, &mut for_b] {
        list.retain(|m| m.envelope != "a to b 4");
        list.reverse();
    }
    let now = T0 + 200;
    for (me, peer, expected) in [(a, b, &for_a), (b, a, &for_b)] {
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .history(me, peer, before, 4, now)
                .await
                .expect("history");
            assert!(page.len() <= 4);
            let Some(last) = page.last() else { break };
            before = Some(last.seq);
            pages.extend(page);
        }
        assert_eq!(&pages, expected);
    }
    assert!(store
        .history(a, b, Some(1), 10, now)
        .await
        .expect("history")
        .is_empty());

    // A message past its self-destruct time is history no more, even before expiry runs.
    let mut fleeting = message(a, b, 100, "fleeting");
    fleeting.expires_at = Some(T0 + 500);
    store.append_messages(&[fleeting]).await.expect("append");
    let newest = store
        .history(a, b, None, 1, T0 + 499)
        .await
        .expect("history");
    assert_eq!(newest[0].envelope, "fleeting");
    assert_eq!(newest[0].expires_at, Some(T0 + 500));
    let newest = store
        .history(a, b, None, 1, T0 + 500)
        .await
        .expect("history");
    assert_eq!(newest.first(), for_a.first());
}
