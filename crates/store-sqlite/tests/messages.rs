//! The message store on a real SQLite file: batched appends keep order, give gap-free seqs,
//! and settle duplicates and conflicts inside one batch.

use securechat_proto::ids::UserId;
use securechat_store::model::{AppendOutcome, FileRow, InboxEvent, NewMessage};
use securechat_store::model::{EncryptionKeyRow, NewUser};
use securechat_store::{Files as _, Messages as _, Users as _};
use securechat_store_sqlite::SqliteStore;

async fn user(store: &SqliteStore, name: &str) -> UserId {
    let id = UserId::generate();
    store
        .create_user(NewUser {
            id,
            username: name.to_owned(),
            email: format!("{name}@example.org"),
            password_hash: "x".to_owned(),
            identity_key: rand::random(),
            first_key: EncryptionKeyRow {
                key_id: rand::random(),
                x25519: rand::random(),
                created_at: 1,
                binding_sig: [0; 64],
                status: securechat_proto::keys::KeyStatus::Active,
            },
            created_at: 1,
        })
        .await
        .expect("create user");
    id
}

fn message(from: UserId, to: UserId, id: u8, body: &str) -> NewMessage {
    NewMessage {
        sender: from,
        recipient: to,
        msg_id: [id; 16],
        envelope: body.to_owned(),
        digest: [body.len() as u8; 32],
        received_at: 1000 + i64::from(id),
        expires_at: None,
        files: Vec::new(),
    }
}

#[tokio::test]
async fn a_batch_keeps_order_and_settles_repeats_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
    let (a, b, c) = (
        user(&store, "aaa").await,
        user(&store, "bbb").await,
        user(&store, "ccc").await,
    );
    let file = [9u8; 16];
    store
        .create_file(FileRow {
            id: file,
            uploader: a,
            recipient: b,
            size: 3,
            created_at: 1,
        })
        .await
        .unwrap();
    let mut with_file = message(a, b, 4, "file!");
    with_file.files = vec![file];

    let batch = vec![
        message(a, b, 1, "one"),
        message(c, b, 2, "two"),
        message(a, b, 1, "one"),  // same id, same content: duplicate
        message(a, b, 1, "uno!"), // same id, other content: conflict
        with_file,
        message(a, b, 5, "five"),
    ];
    let outcomes = store.append_messages(&batch).await.unwrap();

    assert_eq!(
        outcomes,
        vec![
            AppendOutcome::Stored {
                sender_seq: 1,
                recipient_seq: 1
            },
            AppendOutcome::Stored {
                sender_seq: 1,
                recipient_seq: 2
            },
            AppendOutcome::Duplicate {
                sender_seq: 1,
                received_at: 1001
            },
            AppendOutcome::Conflict,
            AppendOutcome::Stored {
                sender_seq: 2,
                recipient_seq: 3
            },
            AppendOutcome::Stored {
                sender_seq: 3,
                recipient_seq: 4
            },
        ]
    );
    // A second batch continues each stream without a gap.
    let more = store
        .append_messages(&[message(b, a, 6, "back")])
        .await
        .unwrap();
    assert_eq!(
        more,
        vec![AppendOutcome::Stored {
            sender_seq: 5,
            recipient_seq: 4
        }]
    );

    let page = store.events_since(b, 0, 100, 0).await.unwrap();
    let seqs: Vec<u64> = page
        .events
        .iter()
        .map(|e| match e {
            InboxEvent::Message(m) => m.seq,
            _ => 0,
        })
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let bodies: Vec<&str> = page
        .events
        .iter()
        .filter_map(|e| match e {
            InboxEvent::Message(m) => Some(m.envelope.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["one", "two", "file!", "five", "back"]);
    // The file is now carried by a message, so it is not swept as unreferenced.
    assert!(store
        .take_unreferenced_files(i64::MAX)
        .await
        .unwrap()
        .is_empty());
}
