//! How fast one writer stores messages: batches of 32 and 512 file-less messages (one
//! transaction, one fsync each) and a single message, on a real SQLite file, with message ids
//! as the reference clients make them (time-ordered) and, for comparison, fully random.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use securechat_proto::ids::UserId;
use securechat_proto::keys::KeyStatus;
use securechat_store::model::{EncryptionKeyRow, NewMessage, NewUser};
use securechat_store::{Messages as _, Users as _};
use securechat_store_sqlite::SqliteStore;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

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
                status: KeyStatus::Active,
            },
            created_at: 1,
        })
        .await
        .expect("user");
    id
}

/// A message id as the reference clients make them (time first), or fully random.
fn msg_id(time_ordered: bool) -> [u8; 16] {
    let mut id: [u8; 16] = rand::random();
    if time_ordered {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        id[..6].copy_from_slice(&now.to_be_bytes()[2..]);
    }
    id
}

/// Messages between 50 pairs, with envelopes of a realistic size (~1.6 KB of JSON).
fn batch(pairs: &[(UserId, UserId)], n: usize, time_ordered: bool) -> Vec<NewMessage> {
    let envelope = "e".repeat(1600);
    (0..n)
        .map(|i| {
            let (from, to) = pairs[i % pairs.len()];
            NewMessage {
                sender: from,
                recipient: to,
                msg_id: msg_id(time_ordered),
                envelope: envelope.clone(),
                digest: rand::random(),
                received_at: 1,
                expires_at: None,
                files: Vec::new(),
            }
        })
        .collect()
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("bench.db")))
        .expect("store");
    let pairs: Vec<(UserId, UserId)> = rt.block_on(async {
        let mut pairs = Vec::new();
        for i in 0..50 {
            pairs.push((
                user(&store, &format!("a{i}")).await,
                user(&store, &format!("b{i}")).await,
            ));
        }
        pairs
    });
    let mut group = c.benchmark_group("append_messages");
    group.sample_size(20);
    for (n, time_ordered) in [(1usize, true), (32, true), (512, true), (512, false)] {
        let ids = if time_ordered { "" } else { ", random ids" };
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("batch of {n}{ids}"), |b| {
            b.iter_batched(
                || batch(&pairs, n, time_ordered),
                |messages| {
                    rt.block_on(store.append_messages(&messages))
                        .expect("append")
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
