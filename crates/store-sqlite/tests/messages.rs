//! The message store on a real SQLite file: batched appends keep order, give gap-free seqs,
//! and settle duplicates and conflicts inside one batch.

use securechat_proto::ids::UserId;
use securechat_store::model::{AppendOutcome, FileRow, InboxEvent, NewMessage};
use securechat_store::model::{Credential, EncryptionKeyRow, NewUser};
use securechat_store::{Files as _, Messages as _, Users as _};
use securechat_store_sqlite::SqliteStore;

async fn user(store: &SqliteStore, name: &str) -> UserId {
    let id = UserId::generate();
    store
        .create_user(NewUser {
            id,
            username: name.to_owned(),
            email: format!("{name}@example.org"),
            credential: Credential::Argon2("x".to_owned()),
            identity_key: rand::random(),
            first_key: EncryptionKeyRow {
                key_id: rand::random(),
                x25519: rand::random(),
                created_at: 1,
                binding_sig: [0; 64],
                status: securechat_proto::keys::KeyStatus::Active,
            },
            created_at: 1,
            gate: securechat_store::model::Gate::Open,
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

/// A store in a fresh temporary folder (kept alive by the returned guard), with three users.
async fn store_with_three_users() -> (tempfile::TempDir, SqliteStore, (UserId, UserId, UserId)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("db"))
        .await
        .expect("open the store");
    let users = (
        user(&store, "aaa").await,
        user(&store, "bbb").await,
        user(&store, "ccc").await,
    );
    (dir, store, users)
}

#[tokio::test]
async fn a_batch_keeps_order_and_settles_repeats_inside_it() {
    let (_dir, store, (a, b, c)) = store_with_three_users().await;
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

fn history_view(page: &[securechat_store::model::StoredMessage]) -> Vec<(u64, &str)> {
    page.iter().map(|m| (m.seq, m.envelope.as_str())).collect()
}

#[tokio::test]
async fn history_pages_back_through_one_conversation_in_the_readers_seqs() {
    let (_dir, store, (a, b, c)) = store_with_three_users().await;
    // a's stream: 1 a→b "m1", 2 b→a "m2", 3 c→a "other", 4 a→b "m4", 5 b→a "m5"
    let batch = [
        message(a, b, 1, "m1"),
        message(b, a, 2, "m2"),
        message(c, a, 3, "other"),
        message(a, b, 4, "m4"),
        message(b, a, 5, "m5"),
    ];
    store.append_messages(&batch).await.unwrap();
    store
        .delete_message(a, [4; 16], "tombstone", 2000)
        .await
        .unwrap()
        .expect("a's own message is deleted");

    let latest = store.history(a, b, None, 10, 0).await.unwrap();
    assert_eq!(history_view(&latest), [(5, "m5"), (2, "m2"), (1, "m1")]);
    let first_page = store.history(a, b, None, 2, 0).await.unwrap();
    assert_eq!(history_view(&first_page), [(5, "m5"), (2, "m2")]);
    let next_page = store.history(a, b, Some(2), 2, 0).await.unwrap();
    assert_eq!(history_view(&next_page), [(1, "m1")]);
    assert!(store.history(a, b, Some(1), 2, 0).await.unwrap().is_empty());
    // The same conversation from b's side, in b's seqs (b's stream: 1, 2, 3 deleted-later, 4).
    let from_b = store.history(b, a, None, 10, 0).await.unwrap();
    assert_eq!(history_view(&from_b), [(4, "m5"), (2, "m2"), (1, "m1")]);
    assert_eq!(
        history_view(&store.history(a, c, None, 10, 0).await.unwrap()),
        [(3, "other")]
    );
}

#[tokio::test]
async fn a_resend_in_a_later_batch_is_answered_from_the_stored_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
    let (a, b) = (user(&store, "aaa").await, user(&store, "bbb").await);
    store
        .append_messages(&[message(b, a, 7, "hi"), message(a, b, 1, "one")])
        .await
        .unwrap();
    let again = store
        .append_messages(&[
            message(a, b, 1, "one"),
            message(a, b, 1, "uno!"), // other content (the test digest is the length)
            message(a, b, 2, "two"),
        ])
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![
            AppendOutcome::Duplicate {
                sender_seq: 2,
                received_at: 1001
            },
            AppendOutcome::Conflict,
            AppendOutcome::Stored {
                sender_seq: 3,
                recipient_seq: 3
            },
        ]
    );
    // Nothing was stored twice.
    let page = store.events_since(b, 0, 100, 0).await.unwrap();
    assert_eq!(page.events.len(), 3);
}

/// A database written by the schema before message positions (migrations 1 and 2) opens with
/// every message kept: duplicates are still answered with their seq, history still reads.
#[tokio::test]
async fn upgrading_a_database_keeps_its_messages_and_their_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    for name in ["0001_accounts.sql", "0002_messages.sql"] {
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(name),
            old.join(name),
        )
        .unwrap();
    }
    let (a, b) = (UserId::generate(), UserId::generate());
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        // As the old code wrote them: a→b (a:1, b:1), then b→a (b:2, a:2).
        for (id, from, to, msg, body, from_seq, to_seq) in [
            (1i64, a, b, 1u8, "one", 1i64, 1i64),
            (2, b, a, 2, "two", 2, 2),
        ] {
            let m = message(from, to, msg, body);
            sqlx::query(
                "INSERT INTO messages (id, sender, msg_id, recipient, envelope, digest, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(from.0)
            .bind(&m.msg_id[..])
            .bind(to.0)
            .bind(body)
            .bind(&m.digest[..])
            .bind(m.received_at)
            .execute(&pool)
            .await
            .unwrap();
            for (user, peer, seq) in [(from, to, from_seq), (to, from, to_seq)] {
                sqlx::query(
                    "INSERT INTO inbox (user_id, seq, kind, peer, message, ts) \
                     VALUES ($1, $2, 'message', $3, $4, 1)",
                )
                .bind(user.0)
                .bind(seq)
                .bind(peer.0)
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
            }
        }
        pool.close().await;
    }

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        history_view(&store.history(a, b, None, 10, 0).await.unwrap()),
        [(2, "two"), (1, "one")]
    );
    let resend = store
        .append_messages(&[message(b, a, 2, "two"), message(a, b, 3, "three")])
        .await
        .unwrap();
    assert_eq!(
        resend,
        vec![
            AppendOutcome::Duplicate {
                sender_seq: 2,
                received_at: 1002
            },
            AppendOutcome::Stored {
                sender_seq: 3,
                recipient_seq: 3
            },
        ]
    );
}
