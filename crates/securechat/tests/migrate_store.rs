//! Moving a server from SQLite to PostgreSQL with `securechat migrate-store`, end to end:
//! users fill a SQLite server through the CLI, the server stops, the binary copies its
//! database into a fresh PostgreSQL database, and a server on PostgreSQL with the same data
//! folder serves the same users on: same history, listen resuming exactly where it stopped,
//! logins, files, keys. A second migration into the now-filled database is refused.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sqlx::{Connection as _, PgConnection};

use securechat_store_tests::{postgres_or_skip, Backend as StoreBackend, TestDatabase};
use support::*;

/// The data tables of the PostgreSQL schema.
const TABLES: [&str; 9] = [
    "users",
    "streams",
    "encryption_keys",
    "sessions",
    "refresh_tokens",
    "login_sources",
    "messages",
    "inbox",
    "files",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `securechat migrate-store` from the SQLite database in `data` to `url`.
fn migrate_store(data: &Path, url: &str) -> Output {
    let from = format!("sqlite://{}", data.join("securechat.db").display());
    let args = ["migrate-store", "--from", &from, "--to", url];
    let child = Command::new(env!("CARGO_BIN_EXE_securechat"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn securechat migrate-store");
    wait(child, &args)
}

/// The texts of the messages among `events`.
fn texts(events: &[Value]) -> Vec<&str> {
    of_type(events, "message")
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect()
}

/// The stream position a user's `listen` saved (where the next one resumes).
fn saved_since(user: &User) -> u64 {
    let state = std::fs::read_to_string(user.profile_dir().join("state.json")).expect("state");
    let state: Value = serde_json::from_str(&state).expect("state json");
    state["last_seq"].as_u64().expect("last_seq")
}

/// Every conversation as the CLI prints it, as text and as JSON.
fn histories(alice: &User, bob: &User, carol: &User) -> Vec<String> {
    let mut out = Vec::new();
    for (user, peer) in [
        (alice, "bob"),
        (alice, "carol"),
        (bob, "alice"),
        (carol, "alice"),
    ] {
        out.push(user.ok(&["history", "--with", peer], ""));
        out.push(user.ok(&["history", "--with", peer, "--json"], ""));
    }
    out
}

/// Each data table's row count and an MD5 of its rows' text, in order.
async fn fingerprint(url: &str) -> Vec<(String, i64, String)> {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let mut tables = Vec::new();
    for table in TABLES.into_iter().chain(["_sqlx_migrations"]) {
        let (rows, md5): (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
             FROM {table} t"
        ))
        .fetch_one(&mut conn)
        .await
        .expect("fingerprint");
        tables.push((table.to_owned(), rows, md5));
    }
    conn.close().await.ok();
    tables
}

#[test]
fn a_sqlite_server_moves_to_postgres_and_its_users_carry_on() {
    let Some((_db, url)) = runtime().block_on(async {
        if !postgres_or_skip().await {
            return None;
        }
        let db = TestDatabase::new(StoreBackend::Postgres)
            .await
            .expect("a PostgreSQL test database");
        let url = db.url();
        Some((db, url))
    }) else {
        return;
    };

    // Three users on SQLite: messages both ways, a file, a deletion, a key rotation.
    let server = start_sqlite_server();
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    let carol = User::new(&server, "carol");
    for user in [&alice, &bob, &carol] {
        user.register();
    }
    // Each `send` first catches its sender up (as `listen` would), so everyone listens
    // before writing to keep what each `listen` shows predictable.
    let hello = alice.ok(&["send", "--to", "bob", "hello", "bob"], "");
    assert_eq!(texts(&bob.listen_once()), ["hello bob"]);
    bob.ok(&["send", "--to", "alice", "hi", "alice"], "");
    carol.ok(&["send", "--to", "alice", "from", "carol"], "");
    assert_eq!(texts(&alice.listen_once()), ["hi alice", "from carol"]);
    alice.ok(&["send", "--to", "carol", "to", "carol"], "");
    let data: Vec<u8> = (0..64 * 1024u32)
        .map(|i| u8::try_from(i % 251).expect("byte"))
        .collect();
    let source = alice.dir().join("notes.bin");
    std::fs::write(&source, &data).expect("write file");
    let file_msg = alice.ok(
        &[
            "upload",
            "--to",
            "bob",
            source.to_str().expect("path"),
            "--caption",
            "notes",
        ],
        "",
    );
    let file_msg = file_msg.trim().to_owned();
    alice.ok(&["delete", "--with", "bob", hello.trim()], "");
    let out = alice.ok(&["keys", "rotate"], "");
    assert!(out.contains("New encryption key"), "{out}");
    let events = bob.listen_once();
    assert_eq!(of_type(&events, "file").len(), 1, "{events:?}");
    assert_eq!(of_type(&events, "deleted").len(), 1, "{events:?}");
    bob.ok(&["send", "--to", "alice", "after", "rotation"], "");
    assert_eq!(texts(&carol.listen_once()), ["to carol"]);
    assert_eq!(texts(&alice.listen_once()), ["after rotation"]);

    // One more message, which alice has not fetched when the server stops.
    bob.ok(
        &["send", "--to", "alice", "sent", "before", "the", "move"],
        "",
    );
    let since = saved_since(&alice);
    let before = histories(&alice, &bob, &carol);
    assert!(before[0].contains("after rotation"), "{}", before[0]);
    assert!(!before[0].contains("hello bob"), "deleted: {}", before[0]);

    // The server stops; its database moves to PostgreSQL.
    let (data_dir, addr) = server.stop();
    let output = migrate_store(data_dir.path(), &url);
    let (stdout, stderr) = support::texts(&output);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    for copied in [
        "users: 3/3",
        "streams: 3/3",
        "encryption_keys: 4/4",
        "messages: 7/7",
        "files: 1/1",
    ] {
        assert!(stdout.lines().any(|l| l == copied), "{copied}: {stdout}");
    }
    for table in TABLES {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no verification of {table}: {stdout}"));
        assert!(line.ends_with("same"), "{line}");
    }
    assert!(!stdout.contains("DIFFERS"), "{stdout}");
    assert!(
        stdout.contains("start the server with --database-url postgres://"),
        "{stdout}"
    );

    // A server on PostgreSQL with the same data folder, at the same address.
    let server = start_server_on(data_dir, addr, Backend::Postgres(url.clone()));
    assert_eq!(histories(&alice, &bob, &carol), before);
    assert_eq!(
        texts(&alice.listen_once()),
        ["sent before the move"],
        "listen resumes where it stopped: no gap"
    );
    assert_eq!(saved_since(&alice), since + 1);
    bob.ok(&["send", "--to", "alice", "after", "the", "move"], "");
    assert_eq!(
        texts(&alice.listen_once()),
        ["after the move"],
        "and no repeat"
    );
    assert_eq!(saved_since(&alice), since + 2);

    // A fresh login of an existing account, on a new device; the file still downloads.
    let laptop = User::new(&server, "bob");
    let out = laptop.ok(
        &["login", "--username", "bob", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.contains("Logged in as bob"), "{out}");
    assert!(laptop.ok(&["users"], "").contains("carol"));
    let target = bob.dir().join("notes.bin");
    bob.ok(
        &[
            "download",
            &file_msg,
            "--out",
            target.to_str().expect("path"),
        ],
        "",
    );
    assert_eq!(std::fs::read(&target).expect("downloaded"), data);
    // New keys and messages take fresh positions and ids after the copied ones.
    carol.ok(&["keys", "rotate"], "");
    alice.ok(&["send", "--to", "carol", "to", "the", "new", "key"], "");
    assert_eq!(texts(&carol.listen_once()), ["to the new key"]);

    // Migrating into the now-filled database is refused and changes nothing.
    let (data_dir, _) = server.stop();
    let filled = runtime().block_on(fingerprint(&url));
    assert!(filled
        .iter()
        .any(|(t, rows, _)| t == "messages" && *rows == 9));
    let output = migrate_store(data_dir.path(), &url);
    let (stdout, stderr) = support::texts(&output);
    assert!(
        !output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("already holds data"), "{stderr}");
    assert!(!stdout.contains("users: "), "nothing was copied: {stdout}");
    assert_eq!(runtime().block_on(fingerprint(&url)), filled);
}
