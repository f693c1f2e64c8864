//! File records: attaching them to messages and collecting the unreferenced ones.

use std::collections::HashSet;
use std::sync::Arc;

use securechat_proto::ids::UserId;
use securechat_store::model::{AppendOutcome, FileId, FileRow};
use securechat_store::Store;

use super::{message, user, T0};

/// Records a file `[tag; 16]` from `uploader` for `recipient`, made at `at`.
async fn file(store: &dyn Store, tag: u8, uploader: UserId, recipient: UserId, at: i64) -> FileId {
    let row = FileRow {
        id: [tag; 16],
        uploader,
        recipient,
        size: 1000 + u64::from(tag),
        created_at: at,
    };
    store.create_file(row.clone()).await.expect("create file");
    let id = row.id;
    assert_eq!(store.get_file(id).await.expect("get file"), Some(row));
    id
}

/// A message attaches files its sender uploaded for its recipient and no message carries
/// yet (nor an earlier message of the batch); anything else is `BadFile`, stores nothing and
/// takes no seq.
pub async fn files_are_attached_with_their_message(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b, c) = (
        user(s, "up").await,
        user(s, "down").await,
        user(s, "side").await,
    );
    let f1 = file(s, 1, a, b, T0).await;
    let f2 = file(s, 2, a, b, T0).await;
    let f3 = file(s, 3, c, b, T0).await;
    let f4 = file(s, 4, a, c, T0).await;
    let f5 = file(s, 5, a, b, T0).await;
    assert!(s.get_file([99; 16]).await.expect("get").is_none());

    let with = |n, files: Vec<FileId>| {
        let mut m = message(a, b, n, &format!("file message {n}"));
        m.files = files;
        m
    };
    let first = with(1, vec![f1]);
    let batch = vec![
        first.clone(),
        with(2, vec![[99; 16]]),
        with(3, vec![f3]),
        with(4, vec![f4]),
        with(5, vec![f1]),
        with(6, vec![f2, f5]),
    ];
    let stored = |sender_seq, recipient_seq| AppendOutcome::Stored {
        sender_seq,
        recipient_seq,
    };
    assert_eq!(
        s.append_messages(&batch).await.expect("append"),
        vec![
            stored(1, 1),
            AppendOutcome::BadFile,
            AppendOutcome::BadFile,
            AppendOutcome::BadFile,
            AppendOutcome::BadFile,
            stored(2, 2),
        ]
    );
    let batch = vec![first, with(7, vec![f1]), with(2, vec![])];
    assert_eq!(
        s.append_messages(&batch).await.expect("append"),
        vec![
            AppendOutcome::Duplicate {
                sender_seq: 1,
                received_at: T0 + 1
            },
            AppendOutcome::BadFile,
            stored(3, 3),
        ],
        "a refused message's id stays free"
    );
    assert_eq!(s.last_seq(b).await.expect("last"), 3);

    // Attached files are never taken; the others are.
    let taken: HashSet<FileId> = s
        .take_unreferenced_files(T0 + 1)
        .await
        .expect("take")
        .into_iter()
        .collect();
    assert_eq!(taken, HashSet::from([f3, f4]));
    for f in [f1, f2, f5] {
        assert!(s.get_file(f).await.expect("get").is_some());
    }
    for f in [f3, f4] {
        assert!(s.get_file(f).await.expect("get").is_none());
    }
}

/// Unreferenced files created before the cutoff are taken, each once.
pub async fn unreferenced_files_are_taken_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b) = (user(s, "old").await, user(s, "new").await);
    let old = file(s, 1, a, b, T0).await;
    let new = file(s, 2, a, b, T0 + 10).await;
    assert!(s
        .take_unreferenced_files(T0)
        .await
        .expect("take")
        .is_empty());
    assert_eq!(
        s.take_unreferenced_files(T0 + 5).await.expect("take"),
        vec![old]
    );
    assert!(s
        .take_unreferenced_files(T0 + 5)
        .await
        .expect("take")
        .is_empty());
    assert_eq!(
        s.take_unreferenced_files(T0 + 100).await.expect("take"),
        vec![new]
    );
    assert!(s.get_file(new).await.expect("get").is_none());
}
