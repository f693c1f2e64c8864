//! How fast one writer stores messages, on each backend: batches of 32 and 512 file-less
//! messages (one transaction, one durable commit each) and a single message, with message ids
//! as the reference clients make them (time-ordered) and, for comparison, fully random.
//!
//! - `append_messages/sqlite/…`: a SQLite file in a temporary folder (WAL, fsync on).
//! - `append_messages/postgres/…`: a fresh database `sc_bench_<random>` on the server of
//!   `SECURECHAT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//!   dropped at the end; skipped, with one line, when that server cannot be reached.
//!
//! 50 pairs of users, envelopes of a realistic size (1.6 KB of JSON text).

use criterion::{BatchSize, Criterion, Throughput};

use securechat_bench::database::{self, Scratch};
use securechat_bench::synth;
use securechat_proto::ids::UserId;
use securechat_store::model::NewMessage;
use securechat_store::Store;
use securechat_store_postgres::{PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;

const PAIRS: usize = 50;
const ENVELOPE_BYTES: usize = 1600;
/// (batch size, time-ordered ids)
const CASES: [(usize, bool); 4] = [(1, true), (32, true), (512, true), (512, false)];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn batch(pairs: &[(UserId, UserId)], n: usize, time_ordered: bool) -> Vec<NewMessage> {
    (0..n)
        .map(|i| {
            let (from, to) = pairs[i % pairs.len()];
            synth::message(from, to, synth::envelope(ENVELOPE_BYTES), time_ordered)
        })
        .collect()
}

/// The benchmark group `append_messages/<backend>` on `store`: the same cases on every
/// backend.
fn append(c: &mut Criterion, rt: &tokio::runtime::Runtime, store: &dyn Store) {
    let pairs: Vec<(UserId, UserId)> = rt.block_on(async {
        let mut pairs = Vec::with_capacity(PAIRS);
        for i in 0..PAIRS {
            let a = synth::create_user(store, &format!("a{i}")).await;
            let b = synth::create_user(store, &format!("b{i}")).await;
            pairs.push((a.expect("user"), b.expect("user")));
        }
        pairs
    });
    let mut group = c.benchmark_group(format!("append_messages/{}", store.backend()));
    group.sample_size(20);
    for (n, time_ordered) in CASES {
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

fn sqlite(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("bench.db")))
        .expect("SQLite store");
    append(c, rt, &store);
    rt.block_on(store.close());
}

fn postgres(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let admin = database::admin_url();
    let scratch = match rt.block_on(Scratch::create(&admin, "sc_bench")) {
        Ok(scratch) => scratch,
        Err(e) => {
            println!("append_messages/postgres: skipped, PostgreSQL unreachable ({e:#})");
            return;
        }
    };
    let store = rt
        .block_on(PostgresStore::connect(
            scratch.url(),
            PostgresOptions::default(),
        ))
        .expect("PostgreSQL store");
    append(c, rt, &store);
    rt.block_on(store.close());
    // Dropping `scratch` drops the database.
}

fn main() {
    let rt = runtime();
    let mut c = Criterion::default().configure_from_args();
    sqlite(&mut c, &rt);
    postgres(&mut c, &rt);
    c.final_summary();
}
