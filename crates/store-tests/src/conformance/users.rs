//! Accounts, keys, password changes and the store's own health.

use std::collections::HashSet;
use std::sync::Arc;

use securechat_proto::ids::UserId;
use securechat_proto::keys::KeyStatus;
use securechat_store::error::Conflict;
use securechat_store::{Store, StoreError};

use super::{argon2, key, new_user, session, user, T0};

/// Accounts are stored whole, found by username, email or id, listed by username, and start
/// with one active key and an empty stream.
pub async fn accounts_are_created_found_and_listed(store: Arc<dyn Store>) {
    let bob = new_user("bob");
    let alice = new_user("alice");
    store.create_user(bob.clone()).await.expect("create bob");
    store
        .create_user(alice.clone())
        .await
        .expect("create alice");

    let listed = store.list_users().await.expect("list");
    let names: Vec<_> = listed.iter().map(|u| (u.id, u.username.as_str())).collect();
    assert_eq!(names, vec![(alice.id, "alice"), (bob.id, "bob")]);

    for login in ["alice", "alice@example.org"] {
        let found = store
            .find_user_by_login(login)
            .await
            .expect("find")
            .expect("alice is found by username and by email");
        assert_eq!(found.id, alice.id);
        assert_eq!(found.username, alice.username);
        assert_eq!(found.email, alice.email);
        assert!(found.credential == alice.credential);
        assert_eq!(found.identity_key, alice.identity_key);
        assert_eq!(found.created_at, alice.created_at);
    }
    assert!(store
        .find_user_by_login("carol")
        .await
        .expect("find")
        .is_none());
    let got = store.get_user(bob.id).await.expect("get").expect("bob");
    assert_eq!(got.username, "bob");
    assert!(store
        .get_user(UserId::generate())
        .await
        .expect("get")
        .is_none());

    let keys = store.list_keys(alice.id).await.expect("keys");
    assert_eq!(keys, vec![alice.first_key.clone()]);
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert_eq!(store.last_seq(alice.id).await.expect("last seq"), 0);
    let page = store
        .events_since(alice.id, 0, 10, T0)
        .await
        .expect("events");
    assert!(page.events.is_empty() && !page.more && page.last_scanned == 0);
}

/// A taken user id, username, email or identity key is a `Conflict` naming it, and nothing
/// of the refused account is stored.
pub async fn conflicts_name_what_is_taken(store: Arc<dyn Store>) {
    let first = new_user("first");
    store.create_user(first.clone()).await.expect("create");

    let mut same_id = new_user("other1");
    same_id.id = first.id;
    let mut same_name = new_user("other2");
    same_name.username = first.username.clone();
    let mut same_email = new_user("other3");
    same_email.email = first.email.clone();
    let mut same_identity = new_user("other4");
    same_identity.identity_key = first.identity_key;

    for (attempt, conflict) in [
        (same_id, Conflict::UserId),
        (same_name, Conflict::Username),
        (same_email, Conflict::Email),
        (same_identity, Conflict::IdentityKey),
    ] {
        let id = attempt.id;
        match store.create_user(attempt).await {
            Err(StoreError::Conflict(c)) => assert_eq!(c, conflict),
            other => panic!("expected Conflict({conflict:?}), got {other:?}"),
        }
        if id != first.id {
            assert!(store.get_user(id).await.expect("get").is_none());
            assert!(store.list_keys(id).await.expect("keys").is_empty());
        }
    }
    assert_eq!(store.list_users().await.expect("list").len(), 1);
    assert_eq!(
        store.write_failure(),
        None,
        "a conflict is no storage failure"
    );
}

/// Publishing retires the previous keys; a published key id or a key not newer than every
/// published one is refused and changes nothing.
pub async fn keys_are_published_in_order(store: Arc<dyn Store>) {
    let account = new_user("keys");
    let first = account.first_key.clone();
    let id = account.id;
    store.create_user(account).await.expect("create");

    let second = key(2, T0 + 10);
    store.add_key(id, second.clone()).await.expect("publish");
    let keys = store.list_keys(id).await.expect("keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].key_id, first.key_id);
    assert_eq!(keys[0].status, KeyStatus::Retired);
    assert_eq!(keys[1], second);

    let refusals = [
        (key(2, T0 + 20), Conflict::EncryptionKey),
        (key(3, T0 + 10), Conflict::KeyOrder),
        (key(4, T0 + 5), Conflict::KeyOrder),
    ];
    for (refused, conflict) in refusals {
        match store.add_key(id, refused).await {
            Err(StoreError::Conflict(c)) => assert_eq!(c, conflict),
            other => panic!("expected Conflict({conflict:?}), got {other:?}"),
        }
    }
    assert_eq!(store.list_keys(id).await.expect("keys"), keys);

    let third = key(5, T0 + 30);
    store.add_key(id, third.clone()).await.expect("publish");
    let keys = store.list_keys(id).await.expect("keys");
    let order: Vec<_> = keys.iter().map(|k| (k.key_id, k.status)).collect();
    assert_eq!(
        order,
        vec![
            (first.key_id, KeyStatus::Retired),
            (second.key_id, KeyStatus::Retired),
            (third.key_id, KeyStatus::Active),
        ]
    );
}

/// A password change replaces the hash and revokes every active session but `keep`.
pub async fn change_password_revokes_the_other_sessions(store: Arc<dyn Store>) {
    let id = user(&*store, "changer").await;
    let mut sessions = Vec::new();
    for n in 0..3u8 {
        let s = session(id, "192.0.2.1", T0 + i64::from(n), [n; 32]);
        sessions.push(s.id);
        store.create_session(s, None).await.expect("login");
    }
    let now = T0 + 100;
    let revoked: HashSet<_> = store
        .change_password(id, &argon2("new-hash"), Some(sessions[1]), now)
        .await
        .expect("change")
        .into_iter()
        .collect();
    assert_eq!(revoked, HashSet::from([sessions[0], sessions[2]]));
    let found = store.get_user(id).await.expect("get").expect("user");
    assert_eq!(found.credential.argon2_hash(), Some("new-hash"));
    let kept = store
        .get_session(sessions[1])
        .await
        .expect("get")
        .expect("s");
    assert_eq!(kept.revoked_at, None);
    let gone = store
        .get_session(sessions[0])
        .await
        .expect("get")
        .expect("s");
    assert_eq!(gone.revoked_at, Some(now));

    let revoked = store
        .change_password(id, &argon2("newer-hash"), None, now + 1)
        .await
        .expect("change");
    assert_eq!(revoked, vec![sessions[1]]);
    match store
        .change_password(UserId::generate(), &argon2("x"), None, now)
        .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound for an unknown account, got {other:?}"),
    }
}

/// A fresh store is ready, reports no write failure and names its backend.
pub async fn the_store_reports_its_health(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    assert_eq!(store.write_failure(), None);
    assert!(
        ["sqlite", "postgres"].contains(&store.backend()),
        "unknown backend name {}",
        store.backend()
    );
    user(&*store, "healthy").await;
    assert_eq!(store.write_failure(), None);
    store.ping().await.expect("ping after a write");
}
