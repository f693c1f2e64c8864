//! What operators do (`securechat admin`): disabling and enabling accounts, the listings of
//! accounts and sessions, and the security event log with its unblocks.

use std::collections::HashSet;
use std::sync::Arc;

use securechat_proto::ids::UserId;
use securechat_store::error::Refusal;
use securechat_store::model::Admission;
use securechat_store::security::{SecurityEvent, SecurityKind};
use securechat_store::{Store, StoreError};

use super::{session, user, T0};

fn disabled<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Refused(Refusal::AccountDisabled))),
        "expected the account to be refused as disabled, got {result:?}"
    );
}

/// Disabling an account revokes every active session of it (and no other account's) and
/// keeps it from logging in until it is enabled; disabling twice keeps the first time;
/// deleted and unknown accounts are not found.
pub async fn disabled_accounts_cannot_log_in_until_enabled(store: Arc<dyn Store>) {
    let s = &*store;
    let (alice, bob) = (user(s, "alice").await, user(s, "bob").await);
    let mut sessions = Vec::new();
    for tag in 1..=2u8 {
        let new = session(alice, "192.0.2.20", T0, [tag; 32]);
        sessions.push(new.id);
        s.create_session(new, None).await.expect("login");
    }
    let bobs = session(bob, "192.0.2.21", T0, [3; 32]);
    s.create_session(bobs.clone(), None).await.expect("login");

    let mut revoked = s.disable_user(alice, T0 + 10).await.expect("disable");
    revoked.sort_by_key(|s| s.0);
    sessions.sort_by_key(|s| s.0);
    assert_eq!(revoked, sessions);
    let seen: HashSet<_> = s
        .revoked_since(T0 + 10)
        .await
        .expect("revoked")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        seen,
        sessions.iter().copied().collect(),
        "polled like others"
    );
    let row = s.get_user(alice).await.expect("get").expect("alice");
    assert_eq!(row.disabled_at, Some(T0 + 10));
    assert!(
        s.find_user_by_login("alice").await.expect("find").is_some(),
        "a disabled account is still found (its password is checked before it is refused)"
    );
    disabled(
        s.create_session(session(alice, "192.0.2.20", T0 + 20, [4; 32]), None)
            .await,
    );
    assert_eq!(
        s.active_sessions(Some(alice), T0 + 20).await.expect("list"),
        vec![]
    );
    let bob_row = s.get_session(bobs.id).await.expect("get").expect("bob's");
    assert!(
        bob_row.is_active(T0 + 20),
        "other accounts keep their sessions"
    );

    assert_eq!(
        s.disable_user(alice, T0 + 30).await.expect("disable again"),
        vec![]
    );
    let row = s.get_user(alice).await.expect("get").expect("alice");
    assert_eq!(row.disabled_at, Some(T0 + 10), "the first time is kept");

    assert!(s.enable_user(alice).await.expect("enable"));
    assert!(!s.enable_user(alice).await.expect("enable again"));
    assert_eq!(
        s.get_user(alice)
            .await
            .expect("get")
            .expect("a")
            .disabled_at,
        None
    );
    assert_eq!(
        s.create_session(session(alice, "192.0.2.20", T0 + 40, [5; 32]), None)
            .await
            .expect("enabled: logs in"),
        Admission::Admitted
    );

    s.delete_user(bob, T0 + 50).await.expect("delete");
    for gone in [bob, UserId::generate()] {
        assert!(matches!(
            s.disable_user(gone, T0 + 60).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.enable_user(gone).await,
            Err(StoreError::NotFound)
        ));
    }
}

/// The operator's listings: every account with its state, when it was last seen (login or
/// refresh) and its active sessions; the active sessions of one account or of all.
pub async fn accounts_and_sessions_are_listed_for_operators(store: Arc<dyn Store>) {
    let s = &*store;
    let (ann, ben, cid) = (
        user(s, "ann").await,
        user(s, "ben").await,
        user(s, "cid").await,
    );
    let first = session(ann, "192.0.2.30", T0 + 100, [11; 32]);
    let second = session(ann, "192.0.2.31", T0 + 200, [12; 32]);
    let bens = session(ben, "192.0.2.32", T0 + 150, [13; 32]);
    for new in [&first, &second, &bens] {
        s.create_session(new.clone(), None).await.expect("login");
    }
    // Ann's first session refreshes later than any login: that is when she was last seen.
    s.rotate_refresh([11; 32], [14; 32], T0 + 500, T0 + 3_600_500, 1_000)
        .await
        .expect("refresh");
    s.revoke_session(bens.id, T0 + 600).await.expect("revoke");
    s.disable_user(cid, T0 + 700).await.expect("disable");

    let now = T0 + 1_000;
    let listed = s.account_summaries(now).await.expect("summaries");
    let rows: Vec<_> = listed
        .iter()
        .map(|a| {
            (
                a.username.as_str(),
                a.id,
                a.last_seen,
                a.active_sessions,
                a.disabled_at,
                a.deleted_at,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("ann", ann, Some(T0 + 500), 2, None, None),
            ("ben", ben, Some(T0 + 150), 0, None, None),
            ("cid", cid, None, 0, Some(T0 + 700), None),
        ]
    );
    assert!(listed.iter().all(|a| a.created_at == T0));

    let anns = s.active_sessions(Some(ann), now).await.expect("list");
    let ids: Vec<_> = anns.iter().map(|r| (r.id, r.ip.as_str())).collect();
    assert_eq!(
        ids,
        vec![(first.id, "192.0.2.30"), (second.id, "192.0.2.31")],
        "oldest first"
    );
    assert_eq!(anns[1].created_at, T0 + 200);
    assert_eq!(
        s.active_sessions(None, now).await.expect("list").len(),
        2,
        "ben's was revoked"
    );
    assert_eq!(
        s.active_sessions(None, T0 + 3_600_400)
            .await
            .expect("list")
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![first.id],
        "the unrefreshed one expired"
    );

    s.delete_user(ann, T0 + 2_000).await.expect("delete");
    let gone = s.account_summaries(T0 + 2_001).await.expect("summaries");
    assert_eq!(gone[0].deleted_at, Some(T0 + 2_000));
    assert_eq!(gone[0].active_sessions, 0);
}

fn event(at: i64, kind: SecurityKind, ip: Option<&str>, user: Option<UserId>) -> SecurityEvent {
    SecurityEvent {
        at,
        kind,
        ip: ip.map(str::to_owned),
        user,
        login: None,
        count: 1,
    }
}

/// Security events are recorded in batches, listed newest first from a time, the unblocks
/// among them oldest first, and pruned by time.
pub async fn security_events_are_recorded_listed_and_pruned(store: Arc<dyn Store>) {
    let s = &*store;
    let someone = UserId::generate();
    let typed = SecurityEvent {
        login: Some("nobody".to_owned()),
        count: 7,
        ..event(
            T0 + 10,
            SecurityKind::LoginBlockedAccount,
            Some("192.0.2.40"),
            None,
        )
    };
    let batch = vec![
        event(
            T0,
            SecurityKind::IpRuleLogin,
            Some("192.0.2.40"),
            Some(someone),
        ),
        typed.clone(),
        event(T0 + 20, SecurityKind::UnblockIp, Some("192.0.2.40"), None),
        event(
            T0 + 30,
            SecurityKind::LoginBlockedIp,
            Some("2001:db8::1"),
            None,
        ),
        event(T0 + 40, SecurityKind::UnblockAccount, None, Some(someone)),
    ];
    s.record_security_events(&batch).await.expect("record");
    s.record_security_events(&[])
        .await
        .expect("nothing to record");

    let listed = s.security_events_since(T0 + 10, 100).await.expect("list");
    let kinds: Vec<_> = listed.iter().map(|r| r.event.kind).collect();
    assert_eq!(
        kinds,
        vec![
            SecurityKind::UnblockAccount,
            SecurityKind::LoginBlockedIp,
            SecurityKind::UnblockIp,
            SecurityKind::LoginBlockedAccount,
        ],
        "newest first, from the time given"
    );
    assert_eq!(listed[3].event, typed, "every field read back");
    assert_eq!(listed[0].event.user, Some(someone));
    let ids: Vec<_> = listed.iter().map(|r| r.id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "ids grow: {ids:?}");
    assert_eq!(
        s.security_events_since(0, 2).await.expect("list").len(),
        2,
        "at most the limit"
    );

    let unblocks = s.unblocks_since(T0).await.expect("unblocks");
    let found: Vec<_> = unblocks
        .iter()
        .map(|r| (r.event.kind, r.event.ip.as_deref(), r.event.user))
        .collect();
    assert_eq!(
        found,
        vec![
            (SecurityKind::UnblockIp, Some("192.0.2.40"), None),
            (SecurityKind::UnblockAccount, None, Some(someone)),
        ]
    );
    assert_eq!(s.unblocks_since(T0 + 21).await.expect("unblocks").len(), 1);

    assert_eq!(s.delete_security_events(T0 + 20).await.expect("prune"), 2);
    assert_eq!(
        s.security_events_since(0, 100).await.expect("list").len(),
        3
    );
}

/// Logins race the disabling of their account on another process: whichever comes first,
/// no active session of the account is left.
pub async fn logins_racing_a_disabling_leave_no_session(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let target = user(&*a, "racing").await;
    for round in 0..10u8 {
        let at = T0 + i64::from(round) * 100;
        let login = session(target, "192.0.2.50", at, [100 + round; 32]);
        let (logged_in, revoked) = tokio::join!(
            a.create_session(login.clone(), None),
            b.disable_user(target, at + 1)
        );
        let revoked = revoked.expect("disable");
        match logged_in {
            Ok(Admission::Admitted) => {
                assert_eq!(
                    revoked,
                    vec![login.id],
                    "round {round}: revoked with the rest"
                );
            }
            other => {
                disabled(other);
                assert!(revoked.is_empty(), "round {round}: {revoked:?}");
            }
        }
        assert_eq!(
            a.active_sessions(Some(target), at + 2).await.expect("list"),
            vec![],
            "round {round}"
        );
        assert!(b.enable_user(target).await.expect("enable"));
    }
}
