//! Group chains: changes stored in order with the membership they lead to, and the
//! compare-and-swap that lets exactly one of two changes made on the same head in.

use std::sync::Arc;

use securechat_proto::ids::UserId;
use securechat_store::error::Conflict;
use securechat_store::groups::{GroupMemberRow, NewGroupChange};
use securechat_store::{Store, StoreError};
use uuid::Uuid;

use super::T0;

fn change(group: Uuid, seq: u64, tag: u8, members: &[(UserId, bool)]) -> NewGroupChange {
    let mut members: Vec<GroupMemberRow> = members
        .iter()
        .map(|&(user, admin)| GroupMemberRow { user, admin })
        .collect();
    members.sort();
    NewGroupChange {
        group_id: group,
        seq,
        change: format!("change {seq} of {group} ({tag})").into_bytes(),
        sig: vec![tag; 64],
        stored_at: T0 + i64::from(tag),
        members,
    }
}

fn head_conflict(result: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(Conflict::GroupHead))),
        "{what}: expected Conflict(GroupHead), got {result:?}"
    );
}

/// Changes are stored from seq 0 in order, each replacing the membership; a change that
/// does not extend the last one (a second create, a gap, a repeat) is a conflict that stores
/// nothing; members see their groups, with the last seq.
pub async fn group_changes_extend_the_chain_in_order(store: Arc<dyn Store>) {
    let s = &*store;
    let (alice, bob, carol) = (UserId::generate(), UserId::generate(), UserId::generate());
    let group = Uuid::now_v7();
    assert!(s.group_changes(group, 0).await.expect("none").is_empty());
    head_conflict(
        s.append_group_change(&change(group, 1, 1, &[(alice, true)]))
            .await,
        "a first change with seq 1",
    );

    s.append_group_change(&change(group, 0, 1, &[(alice, true), (bob, false)]))
        .await
        .expect("create");
    head_conflict(
        s.append_group_change(&change(group, 0, 2, &[(alice, true)]))
            .await,
        "a second create",
    );
    head_conflict(
        s.append_group_change(&change(group, 2, 2, &[(alice, true)]))
            .await,
        "a gap",
    );
    s.append_group_change(&change(
        group,
        1,
        2,
        &[(alice, true), (bob, false), (carol, false)],
    ))
    .await
    .expect("add");
    head_conflict(
        s.append_group_change(&change(group, 1, 3, &[(alice, true)]))
            .await,
        "a repeated seq",
    );
    s.append_group_change(&change(group, 2, 3, &[(alice, true), (carol, true)]))
        .await
        .expect("remove bob");

    let chain = s.group_changes(group, 0).await.expect("chain");
    assert_eq!(chain.iter().map(|c| c.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(
        chain[1].change,
        change(group, 1, 2, &[]).change,
        "the exact bytes"
    );
    assert_eq!(chain[2].sig, vec![3; 64]);
    let tail = s.group_changes(group, 2).await.expect("from 2");
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].seq, 2);

    let mut expected = vec![
        GroupMemberRow {
            user: alice,
            admin: true,
        },
        GroupMemberRow {
            user: carol,
            admin: true,
        },
    ];
    expected.sort();
    let mut members = s.group_members(group).await.expect("members");
    members.sort();
    assert_eq!(members, expected);
    assert_eq!(s.groups_of(alice).await.expect("alice's"), [(group, 2)]);
    assert!(
        s.groups_of(bob).await.expect("bob's").is_empty(),
        "bob was removed"
    );
    assert!(s
        .group_members(Uuid::now_v7())
        .await
        .expect("unknown")
        .is_empty());
}

/// Two processes extend the same head at once: exactly one change is stored, and the other
/// is told (a conflict); both creating the same group: one create.
pub async fn concurrent_group_changes_store_one(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let alice = UserId::generate();
    for round in 0..5u8 {
        let group = Uuid::now_v7();
        let (one, two) = (
            change(group, 0, 1, &[(alice, true)]),
            change(group, 0, 2, &[(alice, true)]),
        );
        let (first, second) =
            tokio::join!(a.append_group_change(&one), b.append_group_change(&two));
        assert_eq!(
            u8::from(first.is_ok()) + u8::from(second.is_ok()),
            1,
            "round {round}: exactly one create wins ({first:?}, {second:?})"
        );
        let (three, four) = (
            change(group, 1, 3, &[(alice, true)]),
            change(group, 1, 4, &[(alice, false)]),
        );
        let (first, second) =
            tokio::join!(a.append_group_change(&three), b.append_group_change(&four));
        let wins = [&first, &second].iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one change on the head ({first:?}, {second:?})"
        );
        for r in [first, second].into_iter().filter(Result::is_err) {
            head_conflict(r, "the loser");
        }
        let chain = a.group_changes(group, 0).await.expect("chain");
        assert_eq!(chain.len(), 2, "round {round}: one change per seq");
        let members = b.group_members(group).await.expect("members");
        assert_eq!(members.len(), 1);
        let winner_tag = chain[1].sig[0];
        assert_eq!(
            members[0].admin,
            winner_tag == 3,
            "the membership is the winner's"
        );
    }
}
