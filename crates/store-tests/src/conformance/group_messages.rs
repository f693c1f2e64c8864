//! Group messages: one message, an entry in the stream of each member who receives it,
//! checked against the membership in the same transaction; removals, reads, history and
//! files follow the members who received it.

use std::sync::Arc;

use securechat_proto::ids::UserId;
use securechat_store::groups::{GroupMemberRow, NewGroupChange};
use securechat_store::model::{
    FileRow, GroupAppendOutcome, InboxEvent, NewGroupMessage, StoredMessage,
};
use securechat_store::Store;
use uuid::Uuid;

use super::{message, msg_id, user, T0};

/// Stores change `seq` of `group` with these members (the chain's bytes do not matter here).
async fn members(store: &dyn Store, group: Uuid, seq: u64, members: &[(UserId, bool)]) {
    let mut rows: Vec<GroupMemberRow> = members
        .iter()
        .map(|&(user, admin)| GroupMemberRow { user, admin })
        .collect();
    rows.sort();
    store
        .append_group_change(&NewGroupChange {
            group_id: group,
            seq,
            change: format!("change {seq}").into_bytes(),
            sig: vec![0; 64],
            stored_at: T0,
            members: rows,
        })
        .await
        .expect("store a group change");
}

/// Group message `n` from `from`, wrapped for `wrapped`.
fn group_message(
    group: Uuid,
    from: UserId,
    n: u64,
    body: &str,
    wrapped: &[UserId],
) -> NewGroupMessage {
    NewGroupMessage {
        message: message(from, UserId(group), n, body),
        group,
        wrapped: wrapped.to_vec(),
    }
}

/// The group messages of a user's stream: (seq, sender, body).
async fn group_events(store: &dyn Store, user: UserId, group: Uuid) -> Vec<InboxEvent> {
    store
        .events_since(user, 0, 100, T0 + 10)
        .await
        .expect("events")
        .events
        .into_iter()
        .filter(|e| match e {
            InboxEvent::Message(m) => m.group == Some(group),
            InboxEvent::Deleted { group: g, .. } | InboxEvent::Read { group: g, .. } => {
                *g == Some(group)
            }
        })
        .collect()
}

fn stored_seqs(outcome: &GroupAppendOutcome) -> (u64, Vec<(UserId, u64)>) {
    match outcome {
        GroupAppendOutcome::Stored {
            sender_seq,
            members,
        } => (*sender_seq, members.clone()),
        other => panic!("expected Stored, got {other:?}"),
    }
}

/// A group message goes into the stream of every member (the sender's too) and nobody
/// else's; resends are settled like 1:1 messages; wraps that are not exactly the members,
/// and senders who are not members, are refused and store nothing; a removed member gets
/// nothing new; history lists what a member received.
pub async fn group_messages_reach_exactly_the_members(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b, c, d) = (
        user(s, "ga").await,
        user(s, "gb").await,
        user(s, "gc").await,
        user(s, "gd").await,
    );
    let group = Uuid::now_v7();
    members(s, group, 0, &[(a, true), (b, false), (c, false)]).await;

    let first = group_message(group, a, 1, "hello all", &[b, c, a]);
    let outcome = s.append_group_message(&first).await.expect("append");
    let (sender_seq, mut to) = stored_seqs(&outcome);
    to.sort();
    let mut expected = vec![(b, 1), (c, 1)];
    expected.sort();
    assert_eq!((sender_seq, to), (1, expected));
    let seen = StoredMessage {
        seq: 1,
        from: a,
        group: Some(group),
        ts: first.message.received_at,
        envelope: "hello all".to_owned(),
        expires_at: None,
    };
    for member in [a, b, c] {
        assert_eq!(
            group_events(s, member, group).await,
            vec![InboxEvent::Message(seen.clone())]
        );
    }
    assert_eq!(
        s.last_seq(d).await.expect("last"),
        0,
        "an outsider gets nothing"
    );

    // Resends: the same content answers the original seq, other content conflicts.
    assert_eq!(
        s.append_group_message(&first).await.expect("resend"),
        GroupAppendOutcome::Duplicate {
            sender_seq: 1,
            received_at: first.message.received_at
        }
    );
    let other = group_message(group, a, 1, "changed", &[a, b, c]);
    assert_eq!(
        s.append_group_message(&other).await.expect("conflict"),
        GroupAppendOutcome::Conflict
    );
    // Another member cannot reuse Alice's id in the group (an admin's deletion names only it).
    let copy = group_message(group, b, 1, "same id, other sender", &[a, b, c]);
    assert_eq!(
        s.append_group_message(&copy).await.expect("id reused"),
        GroupAppendOutcome::Conflict
    );

    // Refusals store nothing.
    for (m, want, what) in [
        (
            group_message(group, a, 2, "x", &[a, b, c, d]),
            GroupAppendOutcome::MembershipChanged,
            "wrapped for an outsider",
        ),
        (
            group_message(group, a, 3, "x", &[a, b]),
            GroupAppendOutcome::MembershipChanged,
            "a member left out",
        ),
        (
            group_message(group, d, 4, "x", &[a, b, c, d]),
            GroupAppendOutcome::NotMember,
            "sent by an outsider",
        ),
        (
            group_message(Uuid::now_v7(), a, 5, "x", &[a]),
            GroupAppendOutcome::NotMember,
            "to an unknown group",
        ),
    ] {
        assert_eq!(
            s.append_group_message(&m).await.expect(what),
            want,
            "{what}"
        );
    }
    for member in [a, b, c, d] {
        assert_eq!(
            s.last_seq(member).await.expect("last"),
            u64::from(member != d),
            "refusals store nothing"
        );
    }

    // Carol is removed: the next message must leave her out, and she does not get it.
    members(s, group, 1, &[(a, true), (b, false)]).await;
    assert_eq!(
        s.append_group_message(&group_message(group, b, 6, "x", &[a, b, c]))
            .await
            .expect("stale"),
        GroupAppendOutcome::MembershipChanged
    );
    let second = group_message(group, b, 7, "without carol", &[a, b]);
    let (sender_seq, to) = stored_seqs(&s.append_group_message(&second).await.expect("append"));
    assert_eq!((sender_seq, to), (2, vec![(a, 2)]));
    assert_eq!(
        group_events(s, c, group).await.len(),
        1,
        "carol got only the first"
    );

    let history = s
        .group_history(b, group, None, 10, T0 + 10)
        .await
        .expect("history");
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [2, 1],
        "newest first, seqs of b's stream"
    );
    let page = s
        .group_history(b, group, Some(2), 10, T0 + 10)
        .await
        .expect("page");
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);
    let carol = s
        .group_history(c, group, None, 10, T0 + 10)
        .await
        .expect("carol's history");
    assert_eq!(carol.len(), 1, "a former member keeps what she received");
    assert!(s
        .group_history(d, group, None, 10, T0 + 10)
        .await
        .expect("outsider")
        .is_empty());
    assert!(
        s.history(a, UserId(group), None, 10, T0 + 10)
            .await
            .expect("1:1 history")
            .iter()
            .all(|m| m.group == Some(group)),
        "only the caller's own group messages could ever match a group id as a peer"
    );
}

/// Reads go to the other members' streams; deletions (by the sender, or by an admin) and
/// expiries reach every member who received the message; the 1:1 delete does not touch group
/// messages; files are readable by those who received the message carrying them.
pub async fn group_reads_removals_and_files_follow_the_members(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b, c, d) = (
        user(s, "ra").await,
        user(s, "rb").await,
        user(s, "rc").await,
        user(s, "rd").await,
    );
    let group = Uuid::now_v7();
    members(s, group, 0, &[(a, true), (b, false), (c, false)]).await;
    let all = [a, b, c];

    // Read receipts.
    let seqs = s
        .record_group_read(b, group, T0 + 5, T0 + 6)
        .await
        .expect("read")
        .expect("b is a member");
    let mut seqs_sorted = seqs.clone();
    seqs_sorted.sort();
    let mut expected = vec![(a, 1), (c, 1)];
    expected.sort();
    assert_eq!(seqs_sorted, expected);
    assert_eq!(
        group_events(s, a, group).await,
        vec![InboxEvent::Read {
            seq: 1,
            peer: b,
            up_to: T0 + 5,
            group: Some(group),
        }]
    );
    assert_eq!(
        s.last_seq(b).await.expect("last"),
        0,
        "not in the reader's stream"
    );
    assert_eq!(
        s.record_group_read(d, group, T0 + 5, T0 + 6)
            .await
            .expect("outsider read"),
        None
    );

    // A file for the group, carried by b's message.
    let file = FileRow {
        id: [7; 16],
        uploader: b,
        recipient: UserId(group),
        size: 10,
        created_at: T0,
    };
    s.create_file(file.clone()).await.expect("file");
    let mut with_file = group_message(group, b, 1, "a file", &all);
    with_file.message.files = vec![file.id];
    stored_seqs(
        &s.append_group_message(&with_file)
            .await
            .expect("file message"),
    );
    for (who, may) in [(a, true), (c, true), (d, false)] {
        assert_eq!(
            s.file_delivered_to(file.id, who).await.expect("acl"),
            may,
            "file readable by {who}"
        );
    }
    let mut reused = group_message(group, a, 2, "reuse", &all);
    reused.message.files = vec![file.id];
    assert_eq!(
        s.append_group_message(&reused).await.expect("reuse"),
        GroupAppendOutcome::BadFile
    );

    // Deletion by the sender reaches every member who received it; the 1:1 path does not
    // apply to group messages; a non-admin cannot delete another's message.
    assert_eq!(
        s.delete_message(b, msg_id(1), "tomb", T0 + 7)
            .await
            .expect("1:1 delete"),
        None
    );
    assert_eq!(
        s.delete_group_message(c, group, msg_id(1), "tomb", T0 + 7)
            .await
            .expect("not hers"),
        None
    );
    let removal = s
        .delete_group_message(b, group, msg_id(1), "tomb", T0 + 7)
        .await
        .expect("delete")
        .expect("removed");
    assert_eq!(removal.group, Some(group));
    assert_eq!(removal.files, vec![file.id]);
    let users: Vec<UserId> = removal.streams.iter().map(|s| s.0).collect();
    assert_eq!(users[0], b, "the sender's stream first");
    let mut others = users[1..].to_vec();
    others.sort();
    let mut expected = vec![a, c];
    expected.sort();
    assert_eq!(others, expected);
    let last_of_c = group_events(s, c, group).await.pop();
    assert!(
        matches!(last_of_c, Some(InboxEvent::Deleted { ref tombstone, group: Some(g), .. })
            if g == group && tombstone.as_deref() == Some("tomb")),
        "{last_of_c:?}"
    );
    assert!(!s.file_delivered_to(file.id, a).await.expect("acl"));

    // An admin deletes a member's message.
    stored_seqs(
        &s.append_group_message(&group_message(group, c, 3, "rude", &all))
            .await
            .expect("append"),
    );
    let removal = s
        .delete_group_message(a, group, msg_id(3), "admin tomb", T0 + 8)
        .await
        .expect("admin delete")
        .expect("removed");
    assert_eq!((removal.sender, removal.streams.len()), (c, 3));

    // Expiry.
    let mut brief = group_message(group, a, 4, "brief", &all);
    brief.message.expires_at = Some(T0 + 100);
    stored_seqs(&s.append_group_message(&brief).await.expect("append"));
    let expired = s.expire_messages(T0 + 100, 10).await.expect("expire");
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].group, expired[0].streams.len()),
        (Some(group), 3)
    );
    for member in all {
        assert!(s
            .group_history(member, group, None, 10, T0 + 50)
            .await
            .expect("history")
            .is_empty());
    }
}

/// Deleting an account removes its group messages for every member who received them, and
/// the group goes on without it: its wrap is no longer required.
pub async fn deleted_members_leave_group_delivery(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b) = (user(s, "da").await, user(s, "db").await);
    let group = Uuid::now_v7();
    members(s, group, 0, &[(a, true), (b, false)]).await;
    stored_seqs(
        &s.append_group_message(&group_message(group, b, 1, "bye", &[a, b]))
            .await
            .expect("append"),
    );
    let removal = s.delete_user(b, T0 + 9).await.expect("delete b");
    assert_eq!(removal.removals.len(), 1);
    assert_eq!(removal.removals[0].group, Some(group));
    assert!(removal.removals[0].streams.iter().any(|(u, _)| *u == a));
    let (sender_seq, to) = stored_seqs(
        &s.append_group_message(&group_message(group, a, 2, "alone", &[a]))
            .await
            .expect("append"),
    );
    assert_eq!((sender_seq, to), (3, vec![]));
}

/// A removal racing a message wrapped for the removed member: either the message is stored
/// first (and the removed member got it), or it is refused as stale; never stored for a
/// membership it was not checked against.
pub async fn group_messages_racing_a_removal_agree(one: Arc<dyn Store>, two: Arc<dyn Store>) {
    let (a, b, c) = (
        user(&*one, "xa").await,
        user(&*one, "xb").await,
        user(&*one, "xc").await,
    );
    for round in 0..10u64 {
        let group = Uuid::now_v7();
        members(&*one, group, 0, &[(a, true), (b, false), (c, false)]).await;
        let before = one.last_seq(c).await.expect("last");
        let m = group_message(group, a, 100 + round, "race", &[a, b, c]);
        let without_carol = [(a, true), (b, false)];
        let (sent, ()) = tokio::join!(
            one.append_group_message(&m),
            members(&*two, group, 1, &without_carol)
        );
        let got = one.last_seq(c).await.expect("last") - before;
        match sent.expect("append") {
            GroupAppendOutcome::Stored { members, .. } => {
                assert!(members.iter().any(|(u, _)| *u == c), "round {round}");
                assert_eq!(got, 1, "round {round}: carol got the message stored before");
            }
            GroupAppendOutcome::MembershipChanged => {
                assert_eq!(got, 0, "round {round}: nothing stored");
            }
            other => panic!("round {round}: {other:?}"),
        }
        let after = group_message(group, b, 200 + round, "after", &[a, b]);
        stored_seqs(&two.append_group_message(&after).await.expect("after"));
    }
}
