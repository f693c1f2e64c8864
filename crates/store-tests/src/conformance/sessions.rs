//! Sessions: storing, the IP rule at login, refresh rotation, revocation and clean-up.

use std::collections::HashSet;
use std::sync::Arc;

use securechat_proto::ids::SessionId;
use securechat_store::model::{Admission, IpLimits, RefreshOutcome};
use securechat_store::Store;

use super::{session, user, T0};

/// A login stores its session and notes its address as a known source; older sources are
/// forgotten as asked.
pub async fn sessions_are_stored_with_their_login_source(store: Arc<dyn Store>) {
    let id = user(&*store, "sourced").await;
    let first = session(id, "192.0.2.1", T0, [1; 32]);
    let admitted = store
        .create_session(first.clone(), None)
        .await
        .expect("login");
    assert_eq!(admitted, Admission::Admitted);
    let row = store.get_session(first.id).await.expect("get").expect("s");
    assert_eq!(
        (row.id, row.user_id, row.ip.as_str()),
        (first.id, id, "192.0.2.1")
    );
    assert_eq!(
        (row.created_at, row.expires_at, row.revoked_at),
        (first.created_at, first.expires_at, None)
    );
    assert!(row.is_active(T0));
    assert!(store
        .get_session(SessionId::generate())
        .await
        .expect("get")
        .is_none());

    assert!(store
        .is_known_source(id, "192.0.2.1", T0)
        .await
        .expect("known"));
    assert!(!store
        .is_known_source(id, "192.0.2.1", T0 + 1)
        .await
        .expect("known"));
    assert!(!store
        .is_known_source(id, "192.0.2.2", 0)
        .await
        .expect("known"));

    let mut second = session(id, "192.0.2.2", T0 + 100, [2; 32]);
    second.forget_sources_before = T0 + 50;
    store.create_session(second, None).await.expect("login");
    assert!(!store
        .is_known_source(id, "192.0.2.1", 0)
        .await
        .expect("known"));
    assert!(store
        .is_known_source(id, "192.0.2.2", T0 + 100)
        .await
        .expect("known"));

    store
        .create_session(session(id, "192.0.2.2", T0 + 200, [3; 32]), None)
        .await
        .expect("login");
    assert!(store
        .is_known_source(id, "192.0.2.2", T0 + 150)
        .await
        .expect("known"));
    assert_eq!(
        store.count_active_sessions(T0 + 200).await.expect("count"),
        3
    );
}

/// The IP rule counts active sessions (the new one's address and user too) and a refused
/// login stores nothing.
pub async fn logins_are_admitted_by_the_ip_rule(store: Arc<dyn Store>) {
    let limits = Some(IpLimits {
        max_ips_per_user: 2,
        refuse_users_per_ip: 3,
    });
    let u1 = user(&*store, "roamer").await;
    let login = |ip: &str, at: i64, n: u8| session(u1, ip, at, [n; 32]);
    let a = login("198.51.100.1", T0, 1);
    let b = login("198.51.100.2", T0 + 1, 2);
    for s in [a.clone(), b.clone(), login("198.51.100.1", T0 + 2, 3)] {
        assert_eq!(
            store.create_session(s, limits).await.expect("login"),
            Admission::Admitted
        );
    }
    let c = login("198.51.100.3", T0 + 3, 4);
    assert_eq!(
        store
            .create_session(c.clone(), limits)
            .await
            .expect("login"),
        Admission::TooManyIpsForUser { ips: 3 }
    );
    assert!(store.get_session(c.id).await.expect("get").is_none());
    assert!(!store
        .is_known_source(u1, "198.51.100.3", 0)
        .await
        .expect("known"));

    // A revoked session no longer counts; neither does an expired one.
    assert!(store.revoke_session(b.id, T0 + 4).await.expect("revoke"));
    let c = login("198.51.100.3", T0 + 5, 5);
    assert_eq!(
        store.create_session(c, limits).await.expect("login"),
        Admission::Admitted
    );
    let late = login("198.51.100.4", a.expires_at + 10, 6);
    assert_eq!(
        store.create_session(late, limits).await.expect("login"),
        Admission::Admitted,
        "every earlier session has expired by then"
    );

    // Users per address: refused once as many as the limit would share it.
    let ip = "203.0.113.9";
    let u2 = user(&*store, "u2").await;
    let u3 = user(&*store, "u3").await;
    let u4 = user(&*store, "u4").await;
    for (n, u) in [(10u8, u2), (11, u3), (12, u2)] {
        assert_eq!(
            store
                .create_session(session(u, ip, T0 + 10, [n; 32]), limits)
                .await
                .expect("login"),
            Admission::Admitted
        );
    }
    let refused = session(u4, ip, T0 + 11, [13; 32]);
    assert_eq!(
        store
            .create_session(refused.clone(), limits)
            .await
            .expect("login"),
        Admission::TooManyUsersOnIp { users: 3 }
    );
    assert!(store.get_session(refused.id).await.expect("get").is_none());
    assert_eq!(
        store
            .create_session(session(u4, ip, T0 + 12, [14; 32]), None)
            .await
            .expect("login"),
        Admission::Admitted,
        "without limits every login is admitted"
    );
}

/// A current token rotates; a repeat within the grace window with the same successor is
/// answered `Rotated` and changes nothing; any other use of a rotated token revokes the
/// session; unknown tokens and dead sessions are `Invalid`.
pub async fn refresh_tokens_rotate_and_reuse_revokes(store: Arc<dyn Store>) {
    let id = user(&*store, "refresher").await;
    let grace = 5_000;
    let s = session(id, "192.0.2.7", T0, [10; 32]);
    store.create_session(s.clone(), None).await.expect("login");
    let rotated = RefreshOutcome::Rotated {
        session: s.id,
        user: id,
    };
    let reused = RefreshOutcome::Reused {
        session: s.id,
        user: id,
    };
    let rotate = |presented: u8, new: u8, now: i64, expires: i64| {
        let store = store.clone();
        async move {
            store
                .rotate_refresh([presented; 32], [new; 32], now, expires, grace)
                .await
                .expect("rotate")
        }
    };

    assert_eq!(rotate(10, 11, T0 + 10, T0 + 2_000_000).await, rotated);
    let row = store.get_session(s.id).await.expect("get").expect("s");
    assert_eq!(row.expires_at, T0 + 2_000_000);
    assert_eq!(rotate(10, 11, T0 + 20, T0 + 3_000_000).await, rotated);
    let row = store.get_session(s.id).await.expect("get").expect("s");
    assert_eq!(row.expires_at, T0 + 2_000_000, "a repeat changes nothing");
    assert_eq!(rotate(11, 12, T0 + 30, T0 + 2_000_000).await, rotated);
    // Token 10's successor is rotated now: presenting 10 again is reuse.
    assert_eq!(rotate(10, 11, T0 + 40, T0 + 2_000_000).await, reused);
    let row = store.get_session(s.id).await.expect("get").expect("s");
    assert_eq!(row.revoked_at, Some(T0 + 40));
    assert_eq!(
        rotate(12, 13, T0 + 50, T0 + 2_000_000).await,
        RefreshOutcome::Invalid
    );

    // Past the grace window, and with another successor, a repeat is reuse too.
    for (base, same_successor, repeat_at) in [(20u8, true, T0 + 10 + grace), (30, false, T0 + 11)] {
        let s = session(id, "192.0.2.7", T0, [base; 32]);
        store.create_session(s.clone(), None).await.expect("login");
        let outcome = rotate(base, base + 1, T0 + 10, T0 + 2_000_000).await;
        assert!(matches!(outcome, RefreshOutcome::Rotated { .. }));
        let successor = if same_successor { base + 1 } else { base + 9 };
        assert_eq!(
            rotate(base, successor, repeat_at, T0 + 2_000_000).await,
            RefreshOutcome::Reused {
                session: s.id,
                user: id
            }
        );
    }

    assert_eq!(
        rotate(77, 78, T0, T0 + 1).await,
        RefreshOutcome::Invalid,
        "unknown token"
    );
    let short = session(id, "192.0.2.7", T0, [80; 32]);
    store
        .create_session(short.clone(), None)
        .await
        .expect("login");
    assert_eq!(
        rotate(80, 81, short.expires_at + 1, T0 + 9_000_000).await,
        RefreshOutcome::Invalid,
        "expired session"
    );
}

/// Revoking one or all of a user's sessions, counting the active ones, deleting dead ones
/// (with their refresh tokens).
pub async fn sessions_are_revoked_and_cleaned_up(store: Arc<dyn Store>) {
    let id = user(&*store, "revoked").await;
    let other = user(&*store, "bystander").await;
    let mut ids = Vec::new();
    for n in 0..4u8 {
        let s = session(id, "192.0.2.9", T0, [n; 32]);
        ids.push(s.id);
        store.create_session(s, None).await.expect("login");
    }
    let mut expired = session(id, "192.0.2.9", T0, [9; 32]);
    expired.expires_at = T0 + 10;
    store
        .create_session(expired.clone(), None)
        .await
        .expect("login");
    let kept = session(other, "192.0.2.10", T0, [8; 32]);
    store
        .create_session(kept.clone(), None)
        .await
        .expect("login");
    let now = T0 + 100;
    assert_eq!(store.count_active_sessions(now).await.expect("count"), 5);
    assert_eq!(store.count_active_sessions(T0).await.expect("count"), 6);

    assert!(store.revoke_session(ids[0], now).await.expect("revoke"));
    assert!(!store.revoke_session(ids[0], now + 1).await.expect("revoke"));
    assert!(!store
        .revoke_session(SessionId::generate(), now)
        .await
        .expect("revoke"));
    let row = store.get_session(ids[0]).await.expect("get").expect("s");
    assert_eq!(row.revoked_at, Some(now));

    let revoked: HashSet<_> = store
        .revoke_user_sessions(id, Some(ids[1]), now)
        .await
        .expect("revoke all")
        .into_iter()
        .collect();
    assert_eq!(
        revoked,
        HashSet::from([ids[2], ids[3]]),
        "neither the kept, the revoked nor the expired session"
    );
    assert_eq!(
        store
            .revoke_user_sessions(id, None, now + 1)
            .await
            .expect("revoke all"),
        vec![ids[1]]
    );
    assert_eq!(
        store.count_active_sessions(now + 1).await.expect("count"),
        1
    );

    // Revoked sessions may be kept longer than expired ones (processes poll revocations):
    // with the revocation cutoff at `now`, only the expired session goes.
    assert_eq!(
        store
            .delete_dead_sessions(now + 1, now)
            .await
            .expect("clean"),
        1,
        "only the expired session"
    );
    assert!(store.get_session(expired.id).await.expect("get").is_none());
    assert!(store.get_session(ids[0]).await.expect("get").is_some());
    // Dead before the cutoffs: the three revoked at `now`, not the one revoked at `now + 1`.
    assert_eq!(
        store
            .delete_dead_sessions(now + 1, now + 1)
            .await
            .expect("clean"),
        3,
        "the three revoked at `now`"
    );
    assert!(store.get_session(ids[0]).await.expect("get").is_none());
    assert!(store.get_session(ids[1]).await.expect("get").is_some());
    assert_eq!(
        store
            .delete_dead_sessions(now + 2, now + 2)
            .await
            .expect("clean"),
        1
    );
    assert!(store.get_session(kept.id).await.expect("get").is_some());
    assert_eq!(
        store
            .rotate_refresh([0; 32], [50; 32], now, now + 10, 1_000)
            .await
            .expect("rotate"),
        RefreshOutcome::Invalid,
        "a deleted session's tokens are gone"
    );
}
