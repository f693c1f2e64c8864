//! Credentials: an Argon2 hash or an OPAQUE record per account, the move from one to the
//! other, and reset codes checked without being used up.

use std::sync::Arc;

use securechat_store::error::Refusal;
use securechat_store::model::{Credential, NewReset};
use securechat_store::{Store, StoreError};

use super::{argon2, new_user, session, T0};

fn record(tag: u8) -> Vec<u8> {
    vec![tag; 192]
}

/// An OPAQUE account keeps its record; a hashed one moves over once, only from the hash it
/// still has; changes, resets and deletion replace or forget either kind.
pub async fn credentials_are_stored_moved_and_forgotten(store: Arc<dyn Store>) {
    let s = store.as_ref();
    // An account made with OPAQUE.
    let mut opaque = new_user("olga");
    opaque.credential = Credential::Opaque(record(1));
    s.create_user(opaque.clone()).await.expect("create");
    let found = s.get_user(opaque.id).await.expect("get").expect("olga");
    assert!(found.credential == Credential::Opaque(record(1)));
    assert_eq!(found.credential.argon2_hash(), None);

    // An account made with a password moves over with its current hash only.
    let hashed = new_user("hank");
    s.create_user(hashed.clone()).await.expect("create");
    let hash = hashed.credential.argon2_hash().expect("a hash").to_owned();
    assert!(
        !s.upgrade_to_opaque(hashed.id, "$argon2id$stale", &record(2))
            .await
            .expect("upgrade"),
        "a stale hash moves nothing"
    );
    let still = s.get_user(hashed.id).await.expect("get").expect("hank");
    assert_eq!(still.credential.argon2_hash(), Some(hash.as_str()));
    // Sessions stay: the password did not change.
    let kept = session(hashed.id, "192.0.2.9", T0, [7; 32]);
    s.create_session(kept.clone(), None).await.expect("login");
    assert!(s
        .upgrade_to_opaque(hashed.id, &hash, &record(2))
        .await
        .expect("upgrade"));
    let moved = s.get_user(hashed.id).await.expect("get").expect("hank");
    assert!(moved.credential == Credential::Opaque(record(2)));
    assert!(
        s.get_session(kept.id)
            .await
            .expect("get")
            .is_some_and(|row| row.revoked_at.is_none()),
        "moving to OPAQUE signs nobody out"
    );
    assert!(
        !s.upgrade_to_opaque(hashed.id, &hash, &record(3))
            .await
            .expect("upgrade"),
        "an account moves once"
    );
    assert!(
        !s.upgrade_to_opaque(opaque.id, "", &record(3))
            .await
            .expect("upgrade"),
        "an OPAQUE account's empty hash moves nothing"
    );

    // A change to a record, and back to a hash (an operator's legacy reset).
    s.change_password(opaque.id, &Credential::Opaque(record(4)), None, T0 + 1)
        .await
        .expect("change");
    let changed = s.get_user(opaque.id).await.expect("get").expect("olga");
    assert!(changed.credential == Credential::Opaque(record(4)));

    // A reset code is checked without being used up, then used.
    s.create_reset(NewReset {
        code_hash: [31; 32],
        user: opaque.id,
        created_at: T0,
        expires_at: T0 + 1000,
    })
    .await
    .expect("reset code");
    for _ in 0..2 {
        assert_eq!(
            s.check_reset(&[31; 32], T0 + 2).await.expect("check"),
            opaque.id
        );
    }
    assert!(matches!(
        s.check_reset(&[32; 32], T0 + 2).await,
        Err(StoreError::Refused(Refusal::ResetUnknown))
    ));
    assert!(matches!(
        s.check_reset(&[31; 32], T0 + 1000).await,
        Err(StoreError::Refused(Refusal::ResetExpired))
    ));
    s.reset_password(&[31; 32], &argon2("$argon2id$reset"), T0 + 3)
        .await
        .expect("reset");
    let reset = s.get_user(opaque.id).await.expect("get").expect("olga");
    assert_eq!(reset.credential.argon2_hash(), Some("$argon2id$reset"));
    assert!(matches!(
        s.check_reset(&[31; 32], T0 + 4).await,
        Err(StoreError::Refused(Refusal::ResetUsed))
    ));

    // Deletion forgets the record as well as the hash.
    s.delete_user(hashed.id, T0 + 5).await.expect("delete");
    let gone = s.get_user(hashed.id).await.expect("get").expect("row kept");
    assert_eq!(gone.credential.opaque_record(), None);
    assert_eq!(gone.credential.argon2_hash(), None);
    assert!(matches!(
        s.change_password(hashed.id, &Credential::Opaque(record(5)), None, T0 + 6)
            .await,
        Err(StoreError::NotFound)
    ));
}

/// A session id is used once: a second login with it (an OPAQUE finish replayed) stores
/// nothing and says so.
pub async fn a_session_id_is_used_once(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let user = new_user("sid");
    s.create_user(user.clone()).await.expect("create");
    let first = session(user.id, "192.0.2.30", T0, [41; 32]);
    s.create_session(first.clone(), None).await.expect("login");
    let replay = securechat_store::model::NewSession {
        refresh_hash: [42; 32],
        ..first.clone()
    };
    assert!(matches!(
        s.create_session(replay, None).await,
        Err(StoreError::Conflict(
            securechat_store::error::Conflict::Session
        ))
    ));
    // The first session's refresh token is the only one: the replay stored nothing.
    assert!(matches!(
        s.rotate_refresh([42; 32], [43; 32], T0 + 1, T0 + 1000, 0)
            .await
            .expect("rotate"),
        securechat_store::model::RefreshOutcome::Invalid
    ));
}
