//! What several nodes on one database share besides the data: stream ends and revocations
//! they poll, the node registry and the background-work lock.

use std::sync::Arc;

use securechat_proto::ids::UserId;
use securechat_store::cluster::NodeRecord;
use securechat_store::Store;

use super::{message, session, user, T0};

/// `last_seqs` answers every user asked, 0 for an empty stream, and `revoked_since` the
/// sessions revoked at or after a time.
pub async fn stream_ends_and_revocations_are_polled(store: Arc<dyn Store>) {
    let (a, b, quiet) = (
        user(&*store, "ends-a").await,
        user(&*store, "ends-b").await,
        user(&*store, "ends-quiet").await,
    );
    let batch: Vec<_> = (1..=3).map(|n| message(a, b, n, "hello")).collect();
    store.append_messages(&batch).await.expect("append");
    store
        .record_read(b, a, T0 + 3, T0 + 10)
        .await
        .expect("read");
    let unknown = UserId::generate();
    let mut ends = store
        .last_seqs(&[a, b, quiet, unknown])
        .await
        .expect("stream ends");
    ends.sort();
    let mut expected = vec![(a, 4), (b, 3), (quiet, 0), (unknown, 0)];
    expected.sort();
    assert_eq!(ends, expected, "a: 3 sent + 1 receipt; b: 3 received");
    assert_eq!(store.last_seqs(&[]).await.expect("nothing asked"), vec![]);

    let sessions: Vec<_> = (0..3u8)
        .map(|n| session(a, "192.0.2.40", T0, [40 + n; 32]))
        .collect();
    for s in &sessions {
        store.create_session(s.clone(), None).await.expect("login");
    }
    assert!(store
        .revoke_session(sessions[0].id, T0 + 100)
        .await
        .expect("revoke"));
    assert!(store
        .revoke_session(sessions[1].id, T0 + 200)
        .await
        .expect("revoke"));
    let mut since = store.revoked_since(T0 + 100).await.expect("revoked");
    since.sort_by_key(|(s, _)| s.0);
    let mut expected = vec![(sessions[0].id, T0 + 100), (sessions[1].id, T0 + 200)];
    expected.sort_by_key(|(s, _)| s.0);
    assert_eq!(since, expected);
    assert_eq!(
        store.revoked_since(T0 + 150).await.expect("revoked"),
        vec![(sessions[1].id, T0 + 200)]
    );
    assert!(store
        .revoked_since(T0 + 201)
        .await
        .expect("revoked")
        .is_empty());
}

fn node(id: &str, settings: &str, seen_at: i64) -> NodeRecord {
    NodeRecord {
        id: id.to_owned(),
        settings: settings.to_owned(),
        seen_at,
    }
}

/// Nodes register, are listed while alive and leave; on a shared database at most one of
/// two processes leads background work, and the other takes over when it goes.
pub async fn nodes_register_and_one_leads(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    first
        .node_heartbeat(&node("n-a", r#"{"x":"1"}"#, T0))
        .await
        .expect("heartbeat");
    second
        .node_heartbeat(&node("n-b", r#"{"x":"2"}"#, T0 + 5))
        .await
        .expect("heartbeat");
    first
        .node_heartbeat(&node("n-a", r#"{"x":"1"}"#, T0 + 10))
        .await
        .expect("heartbeat again");
    assert_eq!(
        second.live_nodes(T0).await.expect("live"),
        vec![
            node("n-a", r#"{"x":"1"}"#, T0 + 10),
            node("n-b", r#"{"x":"2"}"#, T0 + 5)
        ]
    );
    assert_eq!(
        first.live_nodes(T0 + 6).await.expect("live"),
        vec![node("n-a", r#"{"x":"1"}"#, T0 + 10)],
        "a node not heard from since is not live"
    );

    let a = first.lead().await.expect("lead");
    let b = second.lead().await.expect("lead");
    if first.backend() == "sqlite" {
        assert!(a && b, "one SQLite file has one node: every process leads");
    } else {
        assert!(a, "the first to ask leads");
        assert!(!b, "at most one leads");
        assert!(
            first.lead().await.expect("lead"),
            "the leader keeps leading"
        );
        first.leave_cluster("n-a").await.expect("leave");
        // PostgreSQL releases the lock when the leaver's backend has ended, just after.
        let mut took_over = false;
        for _ in 0..50 {
            took_over = second.lead().await.expect("lead");
            if took_over {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(took_over, "the other takes over");
        assert!(!first.lead().await.expect("lead"));
    }
    first.leave_cluster("n-a").await.expect("leave twice");
    assert_eq!(
        second.live_nodes(0).await.expect("live"),
        vec![node("n-b", r#"{"x":"2"}"#, T0 + 5)]
    );
}
