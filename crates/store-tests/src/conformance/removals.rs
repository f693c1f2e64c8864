//! Deleting and expiring messages.

use std::collections::HashSet;
use std::sync::Arc;

use securechat_store::model::{AppendOutcome, FileRow, InboxEvent, Removal};
use securechat_store::Store;

use super::{message, msg_id, user, T0};

/// A deletion clears the message for both sides, records the tombstone in both streams and
/// drops its files; the message id stays taken.
pub async fn deleted_messages_leave_both_streams(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b) = (user(s, "deleter").await, user(s, "deletee").await);
    let file = FileRow {
        id: [7; 16],
        uploader: a,
        recipient: b,
        size: 10,
        created_at: T0,
    };
    s.create_file(file.clone()).await.expect("file");
    let mut first = message(a, b, 1, "regret");
    first.files = vec![file.id];
    let batch = vec![first.clone(), message(a, b, 2, "keep")];
    s.append_messages(&batch).await.expect("append");

    let removal = s
        .delete_message(a, msg_id(1), "tomb", T0 + 100)
        .await
        .expect("delete");
    assert_eq!(
        removal,
        Some(Removal {
            msg_id: msg_id(1),
            sender: a,
            group: None,
            streams: vec![(a, 3), (b, 3)],
            files: vec![file.id],
        })
    );
    assert!(s.get_file(file.id).await.expect("get").is_none());
    for (sender, id) in [(a, msg_id(1)), (b, msg_id(1)), (a, msg_id(9))] {
        assert_eq!(
            s.delete_message(sender, id, "tomb", T0 + 101)
                .await
                .expect("delete"),
            None
        );
    }
    for (me, peer) in [(a, b), (b, a)] {
        let page = s.events_since(me, 0, 10, T0 + 200).await.expect("events");
        assert_eq!(page.events.len(), 2, "{:?}", page.events);
        assert!(matches!(&page.events[0], InboxEvent::Message(m) if m.seq == 2));
        assert_eq!(
            page.events[1],
            InboxEvent::Deleted {
                seq: 3,
                msg_id: msg_id(1),
                from: a,
                tombstone: Some("tomb".to_owned()),
                group: None,
            }
        );
        let history = s.history(me, peer, None, 10, T0 + 200).await.expect("h");
        let envelopes: Vec<_> = history.iter().map(|m| m.envelope.as_str()).collect();
        assert_eq!(envelopes, vec!["keep"]);
    }
    assert_eq!(
        s.append_messages(&[first]).await.expect("append"),
        vec![AppendOutcome::Duplicate {
            sender_seq: 1,
            received_at: T0 + 1
        }],
        "a deleted message's id stays taken"
    );
}

/// Messages past their self-destruct time are hidden at once and removed by expiry, each
/// once, at most `limit` per call, with an expiry event (no tombstone) in both streams.
pub async fn expired_messages_are_removed_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b) = (user(s, "ephemeral").await, user(s, "viewer").await);
    let file = FileRow {
        id: [8; 16],
        uploader: a,
        recipient: b,
        size: 10,
        created_at: T0,
    };
    s.create_file(file.clone()).await.expect("file");
    let mut batch = vec![
        message(a, b, 1, "soon"),
        message(a, b, 2, "later"),
        message(a, b, 3, "forever"),
    ];
    batch[0].expires_at = Some(T0 + 100);
    batch[0].files = vec![file.id];
    batch[1].expires_at = Some(T0 + 200);
    s.append_messages(&batch).await.expect("append");

    let page = s.events_since(b, 0, 10, T0 + 150).await.expect("events");
    let seqs: Vec<_> = page
        .events
        .iter()
        .map(|e| match e {
            InboxEvent::Message(m) => m.seq,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        seqs,
        vec![2, 3],
        "an expired message is hidden before expiry runs"
    );

    assert_eq!(
        s.expire_messages(T0 + 150, 10).await.expect("expire"),
        vec![Removal {
            msg_id: msg_id(1),
            sender: a,
            group: None,
            streams: vec![(a, 4), (b, 4)],
            files: vec![file.id],
        }]
    );
    assert!(s.get_file(file.id).await.expect("get").is_none());
    assert_eq!(
        s.expire_messages(T0 + 150, 10).await.expect("expire"),
        vec![]
    );
    let page = s.events_since(b, 3, 10, T0 + 150).await.expect("events");
    assert_eq!(
        page.events,
        vec![InboxEvent::Deleted {
            seq: 4,
            msg_id: msg_id(1),
            from: a,
            tombstone: None,
            group: None,
        }]
    );

    let mut more: Vec<_> = (4..=6).map(|n| message(a, b, n, "brief")).collect();
    for m in &mut more {
        m.expires_at = Some(T0 + 300);
    }
    s.append_messages(&more).await.expect("append");
    let first = s.expire_messages(T0 + 1000, 2).await.expect("expire");
    let second = s.expire_messages(T0 + 1000, 2).await.expect("expire");
    assert_eq!((first.len(), second.len()), (2, 2));
    assert_eq!(
        s.expire_messages(T0 + 1000, 2).await.expect("expire"),
        vec![]
    );
    let removed: HashSet<_> = first.iter().chain(&second).map(|r| r.msg_id).collect();
    let expected: HashSet<_> = [2, 4, 5, 6].into_iter().map(msg_id).collect();
    assert_eq!(removed, expected);
    let seqs: HashSet<_> = first
        .iter()
        .chain(&second)
        .map(|r| r.streams[1].1)
        .collect();
    assert_eq!(seqs, HashSet::from([8, 9, 10, 11]));
    assert_eq!(s.last_seq(b).await.expect("last"), 11);
    let history = s.history(b, a, None, 10, T0 + 10_000).await.expect("h");
    let envelopes: Vec<_> = history.iter().map(|m| m.envelope.as_str()).collect();
    assert_eq!(envelopes, vec!["forever"]);
}
