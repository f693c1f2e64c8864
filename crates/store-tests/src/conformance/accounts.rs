//! Registration gates, invitations, password-reset codes and account deletion.

use std::sync::Arc;

use securechat_store::error::{Conflict, Refusal};
use securechat_store::model::{AppendOutcome, FileRow, Gate, InboxEvent, NewInvite, NewReset};
use securechat_store::{Store, StoreError};

use super::{argon2, message, new_user, session, user, T0};

fn invite(tag: u8, expires_at: i64) -> NewInvite {
    NewInvite {
        code_hash: [tag; 32],
        note: format!("invite {tag}"),
        created_at: T0,
        expires_at,
    }
}

fn gated(
    gate: Gate,
    mut user: securechat_store::model::NewUser,
) -> securechat_store::model::NewUser {
    user.gate = gate;
    user
}

fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Refusal {
    match result {
        Err(StoreError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The first-account gate admits one account only; an invitation admits one account, then
/// is used; unknown, used and expired codes are refused by name, and a refused or failed
/// registration uses up nothing.
pub async fn registration_gates_admit_and_use_up_invites(store: Arc<dyn Store>) {
    let s = &*store;
    let first = new_user("first");
    s.create_user(gated(Gate::FirstAccount, first.clone()))
        .await
        .expect("the first account passes the first-account gate");
    let refusal = refused(
        s.create_user(gated(Gate::FirstAccount, new_user("second")))
            .await,
    );
    assert_eq!(refusal, Refusal::NotFirstAccount);
    assert_eq!(s.list_users().await.expect("users").len(), 1);

    s.create_invite(invite(1, T0 + 1000)).await.expect("invite");
    s.create_invite(invite(2, T0 + 5)).await.expect("invite");
    assert!(matches!(
        s.create_invite(invite(1, T0 + 1000)).await,
        Err(StoreError::Conflict(Conflict::Code))
    ));
    // A registration that fails for another reason keeps the invitation.
    let mut taken = new_user("first");
    taken.gate = Gate::Invite([1; 32]);
    taken.created_at = T0 + 10;
    assert!(matches!(
        s.create_user(taken).await,
        Err(StoreError::Conflict(Conflict::Username))
    ));
    // Without a valid invitation nothing else is checked: a stranger learns nothing about
    // which names and addresses are taken.
    let mut probe = new_user("first");
    probe.email = first.email.clone();
    probe.gate = Gate::Invite([9; 32]);
    assert_eq!(refused(s.create_user(probe).await), Refusal::InviteUnknown);
    let mut carol = new_user("carol");
    carol.created_at = T0 + 10;
    for (code, expected) in [
        ([9; 32], Refusal::InviteUnknown),
        ([2; 32], Refusal::InviteExpired),
    ] {
        let mut attempt = carol.clone();
        attempt.gate = Gate::Invite(code);
        assert_eq!(refused(s.create_user(attempt).await), expected);
    }
    let mut admitted = carol.clone();
    admitted.gate = Gate::Invite([1; 32]);
    s.create_user(admitted).await.expect("an invitation admits");
    let mut again = new_user("dave");
    again.gate = Gate::Invite([1; 32]);
    again.created_at = T0 + 20;
    assert_eq!(refused(s.create_user(again).await), Refusal::InviteUsed);

    let invites = s.list_invites().await.expect("list");
    assert_eq!(invites.len(), 2);
    let used = invites
        .iter()
        .find(|i| i.code_hash == [1; 32])
        .expect("invite 1 listed");
    assert_eq!(
        (used.used_at, used.used_by, used.note.as_str()),
        (Some(T0 + 10), Some(carol.id), "invite 1")
    );
    let expired = invites
        .iter()
        .find(|i| i.code_hash == [2; 32])
        .expect("invite 2 listed");
    assert_eq!((expired.used_at, expired.used_by), (None, None));
    assert_eq!(s.list_users().await.expect("users").len(), 2);
}

/// A reset code sets the password and signs the account out everywhere, once; unknown, used
/// and expired codes are refused by name; `users_signed_in_from` counts users with active
/// sessions from an address.
pub async fn password_resets_are_used_once(store: Arc<dyn Store>) {
    let s = &*store;
    let alice = user(s, "alice").await;
    let bob = user(s, "bob").await;
    let mut sessions = Vec::new();
    for (who, tag) in [(alice, 1), (alice, 2), (bob, 3)] {
        let new = session(who, "192.0.2.7", T0, [tag; 32]);
        sessions.push(new.id);
        s.create_session(new, None).await.expect("login");
    }
    assert_eq!(
        s.users_signed_in_from("192.0.2.7", T0 + 1)
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        s.users_signed_in_from("192.0.2.8", T0 + 1)
            .await
            .expect("count"),
        0
    );
    let reset = |tag: u8, expires_at| NewReset {
        code_hash: [tag; 32],
        user: alice,
        created_at: T0,
        expires_at,
    };
    s.create_reset(reset(1, T0 + 1000)).await.expect("reset");
    s.create_reset(reset(2, T0 + 5)).await.expect("reset");
    s.create_reset(reset(5, T0 + 1000)).await.expect("reset");
    let stranger = NewReset {
        user: securechat_proto::ids::UserId::generate(),
        ..reset(3, T0 + 1000)
    };
    assert!(matches!(
        s.create_reset(stranger).await,
        Err(StoreError::NotFound)
    ));

    let (who, mut revoked) = s
        .reset_password(&[1; 32], &argon2("$argon2id$new"), T0 + 10)
        .await
        .expect("a reset code works");
    revoked.sort_by_key(|s| s.0);
    let mut expected = sessions[..2].to_vec();
    expected.sort_by_key(|s| s.0);
    assert_eq!((who, revoked), (alice, expected));
    let found = s
        .find_user_by_login("alice")
        .await
        .expect("find")
        .expect("alice");
    assert_eq!(found.credential.argon2_hash(), Some("$argon2id$new"));
    assert_eq!(
        s.users_signed_in_from("192.0.2.7", T0 + 11)
            .await
            .expect("count"),
        1,
        "alice's sessions were revoked"
    );
    for (code, expected) in [
        ([1; 32], Refusal::ResetUsed),
        // Another code of the account, made before: a reset used it up too.
        ([5; 32], Refusal::ResetUsed),
        ([9; 32], Refusal::ResetUnknown),
    ] {
        assert_eq!(
            refused(
                s.reset_password(&code, &argon2("$argon2id$other"), T0 + 20)
                    .await
            ),
            expected
        );
    }
    let still = s.find_user_by_login("alice").await.expect("find");
    assert_eq!(
        still.as_ref().and_then(|u| u.credential.argon2_hash()),
        Some("$argon2id$new")
    );
    // A password change uses up the codes made before it as well.
    s.create_reset(reset(6, T0 + 1000)).await.expect("reset");
    s.change_password(alice, &argon2("$argon2id$changed"), None, T0 + 30)
        .await
        .expect("change");
    assert_eq!(
        refused(
            s.reset_password(&[6; 32], &argon2("$argon2id$x"), T0 + 31)
                .await
        ),
        Refusal::ResetUsed
    );
}

/// Deleting an account revokes its sessions, removes what it sent for both sides (its
/// peers' own messages stay), drops its files and codes, keeps its username taken and frees
/// its email; it can no longer be found to log in.
pub async fn deleted_accounts_leave_and_keep_their_name(store: Arc<dyn Store>) {
    let s = &*store;
    let gone = new_user("gone");
    s.create_user(gone.clone()).await.expect("create");
    let (a, b) = (gone.id, user(s, "stays").await);
    let file = |tag: u8| FileRow {
        id: [tag; 16],
        uploader: a,
        recipient: b,
        size: 10,
        created_at: T0,
    };
    s.create_file(file(1)).await.expect("file");
    s.create_file(file(2)).await.expect("unattached file");
    let mut with_file = message(a, b, 1, "from gone, with a file");
    with_file.files = vec![[1; 16]];
    s.append_messages(&[
        with_file,
        message(a, b, 2, "from gone"),
        message(b, a, 3, "from stays"),
    ])
    .await
    .expect("append");
    let login = session(a, "192.0.2.9", T0, [5; 32]);
    s.create_session(login.clone(), None).await.expect("login");
    s.create_reset(NewReset {
        code_hash: [4; 32],
        user: a,
        created_at: T0,
        expires_at: T0 + 1000,
    })
    .await
    .expect("reset code");

    let removal = s.delete_user(a, T0 + 100).await.expect("delete");
    assert_eq!(removal.sessions, vec![login.id]);
    assert_eq!(removal.removals.len(), 2);
    assert!(removal
        .removals
        .iter()
        .all(|r| r.sender == a && r.streams.iter().map(|s| s.0).eq([a, b])));
    assert_eq!(removal.removals[0].files, vec![[1; 16]]);
    assert_eq!(removal.files, vec![[2; 16]]);
    for id in [[1; 16], [2; 16]] {
        assert!(s.get_file(id).await.expect("get").is_none());
    }

    let history = s.history(b, a, None, 10, T0 + 200).await.expect("history");
    let bodies: Vec<_> = history.iter().map(|m| m.envelope.as_str()).collect();
    assert_eq!(bodies, vec!["from stays"]);
    let page = s.events_since(b, 0, 10, T0 + 200).await.expect("events");
    let deleted = page
        .events
        .iter()
        .filter(|e| matches!(e, InboxEvent::Deleted { from, tombstone: None, .. } if *from == a))
        .count();
    assert_eq!(deleted, 2, "the peer's stream says both were removed");

    assert!(s.find_user_by_login("gone").await.expect("find").is_none());
    assert!(s
        .find_user_by_login("gone@example.org")
        .await
        .expect("find")
        .is_none());
    let row = s.get_user(a).await.expect("get").expect("the row stays");
    assert_eq!(row.deleted_at, Some(T0 + 100));
    let listed = s.list_users().await.expect("list");
    let flags: Vec<_> = listed
        .iter()
        .map(|u| (u.username.as_str(), u.deleted))
        .collect();
    assert_eq!(flags, vec![("gone", true), ("stays", false)]);
    assert_eq!(
        refused(
            s.reset_password(&[4; 32], &argon2("$argon2id$x"), T0 + 200)
                .await
        ),
        Refusal::ResetUnknown
    );

    let mut again = new_user("gone");
    again.email = "someone@example.org".to_owned();
    assert!(matches!(
        s.create_user(again).await,
        Err(StoreError::Conflict(Conflict::Username))
    ));
    let mut reuse = new_user("newcomer");
    reuse.email = gone.email.clone();
    let newcomer = reuse.id;
    s.create_user(reuse).await.expect("the email is free again");

    // Nothing more is stored for the deleted account: messages to or from it are refused
    // (the others of the batch go through), and a login that raced the deletion gets no
    // session.
    let outcomes = s
        .append_messages(&[
            message(b, a, 10, "too late"),
            message(b, newcomer, 11, "welcome"),
            message(a, b, 12, "from beyond"),
        ])
        .await
        .expect("append");
    assert_eq!(outcomes[0], AppendOutcome::Gone);
    assert!(matches!(outcomes[1], AppendOutcome::Stored { .. }));
    assert_eq!(outcomes[2], AppendOutcome::Gone);
    assert!(matches!(
        s.create_session(session(a, "192.0.2.9", T0 + 400, [6; 32]), None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_user(a, T0 + 300).await,
        Err(StoreError::NotFound)
    ));
}

/// Two processes use one invitation, and one reset code, at once: exactly one of each wins.
pub async fn concurrent_uses_of_one_code_succeed_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    a.create_invite(invite(7, T0 + 100_000))
        .await
        .expect("invite");
    let owner = user(&*a, "owner").await;
    a.create_reset(NewReset {
        code_hash: [8; 32],
        user: owner,
        created_at: T0,
        expires_at: T0 + 100_000,
    })
    .await
    .expect("reset code");
    for round in 0..5 {
        let mut first = new_user(&format!("racer{round}a"));
        let mut second = new_user(&format!("racer{round}b"));
        let code = [100 + round; 32];
        a.create_invite(invite(100 + round, T0 + 100_000))
            .await
            .expect("invite");
        first.gate = Gate::Invite(code);
        second.gate = Gate::Invite(code);
        let (x, y) = tokio::join!(a.create_user(first), b.create_user(second));
        let won = [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(won, 1, "round {round}: {x:?} {y:?}");
        for lost in [x, y].into_iter().filter_map(Result::err) {
            assert!(
                matches!(lost, StoreError::Refused(Refusal::InviteUsed)),
                "{lost:?}"
            );
        }
    }
    let (first, second) = (argon2("$argon2id$x"), argon2("$argon2id$y"));
    let (x, y) = tokio::join!(
        a.reset_password(&[8; 32], &first, T0 + 10),
        b.reset_password(&[8; 32], &second, T0 + 10)
    );
    assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(), 1);
}
