//! The restore drill, through the real binary, on SQLite and on PostgreSQL: several people
//! chat under load through the client library (each acknowledged message id recorded), and
//! `securechat backup` is taken in the middle while the server keeps going. A fresh data
//! folder (and, on PostgreSQL, a fresh database) is restored from the backup with
//! `securechat restore`, a server is started on it, and then:
//!
//! - every message acknowledged before the backup began is there, and opens, through the
//!   CLI (`securechat history` with the recipient's own profile, whose session the backup
//!   kept) and through the client library (each sender's view);
//! - every message acknowledged after the backup began (or never) is either whole and
//!   opening, or absent;
//! - messages deleted, or expired, before the backup are gone; messages that were alive in
//!   the backup but expired before the restored server started are purged before it answers
//!   its first request;
//! - the file uploaded before the backup downloads and decrypts to the same bytes.

#[allow(dead_code)]
#[path = "cluster/clients.rs"]
mod clients;
#[path = "support/spawned.rs"]
mod spawned;
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection as _;

use securechat_client::chat::{msg_id_text, Chat, ChatState, Received};
use securechat_client::{Api, KeyRing};
use securechat_proto::ids::UserId;
use securechat_proto::messages::HISTORY_MAX_LIMIT;
use securechat_proto::ws::ClientFrame;
use securechat_store_tests::services::http_get;
use securechat_store_tests::{postgres_or_skip, Backend as StoreBackend, TestDatabase};

use clients::{person, Person, Session};
use spawned::{securechat, Served};
use support::{json_lines, wait, User};

/// Senders writing to alice at once.
const SENDERS: usize = 4;
/// Messages each sender may have waiting for their ack.
const WINDOW: usize = 16;
/// Most messages one sender sends in the whole drill.
const MOST_PER_SENDER: usize = 4000;
/// Chatting before the backup begins (long enough for the 5-second messages to expire).
const BEFORE_BACKUP: Duration = Duration::from_secs(7);
/// Chatting after the backup finished.
const AFTER_BACKUP: Duration = Duration::from_secs(3);
/// The shortest self-destruct time the server takes.
const SHORT_LIFE_MS: i64 = 5_000;
/// Self-destruct time of the messages alive in the backup that expire before the restore.
const BACKUP_LIFE_MS: i64 = 15_000;

/// The server options of every server of the drill: the loopback addresses are exempt from
/// the IP rule, anyone registers.
fn server_options(database_url: Option<String>) -> impl FnOnce(&mut std::process::Command) {
    move |command| {
        command.args(["--ip-allow", "127.0.0.0/8", "--registration", "open"]);
        if let Some(url) = database_url {
            command.args(["--database-url", &url]);
        }
    }
}

/// Runs a `securechat` operator command to its end; returns its standard output.
fn operator(args: &[&str]) -> String {
    let mut command = securechat();
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let output = wait(command.spawn().expect("spawn securechat"), args);
    let (stdout, stderr) = support::texts(&output);
    assert!(
        output.status.success(),
        "securechat {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    stdout
}

/// One message a sender sealed: its id and text.
struct Sent {
    id: String,
    text: String,
}

/// A sender writing to alice until told to stop; returns what it sent.
async fn chat_until(
    mut person: Person,
    session: Arc<Session>,
    to: UserId,
    tag: String,
    stop: Arc<AtomicBool>,
) -> (Person, Vec<Sent>) {
    let mut sent: Vec<Sent> = Vec::new();
    while !stop.load(Ordering::Relaxed) && sent.len() < MOST_PER_SENDER {
        let waiting = {
            let record = session.lock();
            sent.iter()
                .rev()
                .take(WINDOW * 4)
                .filter(|s| !record.acked.contains_key(&s.id))
                .count()
        };
        if waiting >= WINDOW {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let text = format!("{tag} message {}", sent.len());
        let sealed = person
            .chat
            .seal_text(to, &text, false, None)
            .await
            .expect("seal a message");
        let id = msg_id_text(&sealed.msg_id);
        session.send(id.clone(), sealed.envelope);
        sent.push(Sent { id, text });
    }
    (person, sent)
}

/// Sends one text and waits for its ack; returns its id.
async fn send_acked(
    person: &mut Person,
    session: &Session,
    to: UserId,
    text: &str,
    expires_in_ms: Option<i64>,
) -> (String, [u8; 16]) {
    let sealed = person
        .chat
        .seal_text(to, text, false, expires_in_ms)
        .await
        .expect("seal");
    let id = msg_id_text(&sealed.msg_id);
    session.send(id.clone(), sealed.envelope);
    let acked = eventually(Duration::from_secs(20), || {
        session.lock().acked.contains_key(&id)
    })
    .await;
    assert!(acked, "{text:?} was not acknowledged");
    (id, sealed.msg_id.0)
}

async fn eventually(patience: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < patience {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// Whether the message `msg_id` still holds its ciphertext in the database at `url`
/// (`None`: no such row).
async fn holds_content(url: &str, msg_id: &[u8; 16]) -> Option<bool> {
    let query = "SELECT envelope IS NOT NULL FROM messages WHERE msg_id = $1";
    if let Some(path) = url.strip_prefix("sqlite://") {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("open the SQLite database");
        let row: Option<bool> = sqlx::query_scalar(query)
            .bind(&msg_id[..])
            .fetch_optional(&mut conn)
            .await
            .expect("query");
        conn.close().await.ok();
        row
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let row: Option<bool> = sqlx::query_scalar(query)
            .bind(&msg_id[..])
            .fetch_optional(&mut conn)
            .await
            .expect("query");
        conn.close().await.ok();
        row
    }
}

/// A conversation as `securechat history --json` prints it to `user`: message id → text.
fn cli_history(user: &User, peer: &str) -> BTreeMap<String, String> {
    let out = user.ok(
        &["history", "--with", peer, "--json", "--limit", "100000"],
        "",
    );
    let mut messages = BTreeMap::new();
    for item in json_lines(&out) {
        match item["type"].as_str() {
            Some("message") => {
                let id = item["msg_id"].as_str().expect("msg_id").to_owned();
                let text = item["text"].as_str().expect("text").to_owned();
                assert!(
                    messages.insert(id.clone(), text).is_none(),
                    "{id} listed twice"
                );
            }
            Some("file") => {}
            other => panic!("history with {peer} holds a {other:?} item: {item}"),
        }
    }
    messages
}

/// A conversation as the client library opens it for `chat`'s user: message id → text.
async fn library_history(chat: &mut Chat, peer: UserId) -> BTreeMap<String, String> {
    let mut messages = BTreeMap::new();
    let mut before = None;
    loop {
        let page = chat
            .api
            .history(peer, before, HISTORY_MAX_LIMIT)
            .await
            .expect("a history page");
        for item in &page.messages {
            let opened = chat
                .open_history(item.from, item.ts, &item.envelope)
                .await
                .unwrap_or_else(|e| panic!("a message in the history does not open: {e}"));
            if let Received::Text { body } = opened.content {
                messages.insert(msg_id_text(&opened.msg_id), body);
            }
        }
        match page.next_before {
            Some(next) if !page.messages.is_empty() => before = Some(next),
            _ => break,
        }
    }
    messages
}

/// Where the drill's databases are.
enum Databases {
    Sqlite,
    Postgres {
        source: TestDatabase,
        restored: TestDatabase,
    },
}

impl Databases {
    fn restored_url(&self, data: &Path) -> String {
        match self {
            Self::Sqlite => format!("sqlite://{}", data.join("securechat.db").display()),
            Self::Postgres { restored, .. } => restored.url(),
        }
    }

    /// `--database-url` for the servers and commands (none for SQLite: the data folder's).
    fn option(&self, restored: bool) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres {
                source,
                restored: r,
            } => Some(if restored { r.url() } else { source.url() }),
        }
    }
}

fn report(line: &str) {
    // Straight to the stream: the test harness captures `println!` of passing tests.
    let _ = writeln!(std::io::stderr(), "{line}");
}

async fn drill(databases: Databases, label: &str) {
    let scratch = tempfile::tempdir().expect("scratch");
    let data = scratch.path().join("data");
    let restored_data = scratch.path().join("restored");
    let backup = scratch.path().join("backups").join("drill");
    let server = tokio::task::block_in_place(|| {
        Served::start(&data, server_options(databases.option(false)))
    });
    let base = format!("http://{}", server.addr);

    // The people: senders through the client library, alice through the CLI.
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        senders.push(person(&base, &format!("sender{i}")).await);
    }
    let alice = User {
        name: "alice",
        base: base.clone(),
        config: tempfile::tempdir().expect("alice's config"),
    };
    tokio::task::block_in_place(|| alice.register());
    let alice_id = Api::new(&base)
        .expect("api")
        .login("alice", support::PASSWORD)
        .await
        .expect("alice logs in through the library too")
        .user_id;
    let file_bytes: Vec<u8> = (0..200 * 1024u32)
        .map(|i| u8::try_from(i % 253).expect("byte"))
        .collect();
    let file_path = alice.dir().join("photo.bin");
    std::fs::write(&file_path, &file_bytes).expect("write the file");
    let file_msg = tokio::task::block_in_place(|| {
        alice.ok(
            &[
                "upload",
                "--to",
                "sender0",
                file_path.to_str().expect("path"),
                "--caption",
                "before the backup",
            ],
            "",
        )
    })
    .trim()
    .to_owned();

    let sessions: Vec<Arc<Session>> = senders
        .iter()
        .map(|p| Arc::new(Session::start(vec![base.clone()], 0, p.token.clone())))
        .collect();

    // Deleted before the backup: three of sender0's messages, their deletions confirmed.
    let mut deleted = Vec::new();
    for k in 0..3 {
        let (id, raw) = send_acked(
            &mut senders[0],
            &sessions[0],
            alice_id,
            &format!("to delete {k}"),
            None,
        )
        .await;
        let tombstone = senders[0]
            .chat
            .seal_delete(alice_id, securechat_crypto::ids::MsgId(raw))
            .await
            .expect("seal a deletion");
        sessions[0].send_frame(ClientFrame::Delete {
            envelope: tombstone.envelope,
        });
        deleted.push(id);
    }
    assert!(
        eventually(Duration::from_secs(20), || {
            let record = sessions[0].lock();
            deleted
                .iter()
                .all(|id| record.deletions.iter().any(|(_, d)| d == id))
        })
        .await,
        "the deletions were not confirmed"
    );
    // Expired before the backup: they self-destruct 5 s after sending, during the chat.
    let mut expired = Vec::new();
    for k in 0..2 {
        let (id, _) = send_acked(
            &mut senders[1],
            &sessions[1],
            alice_id,
            &format!("expires before the backup {k}"),
            Some(SHORT_LIFE_MS),
        )
        .await;
        expired.push(id);
    }

    // The load.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, person) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(chat_until(
            person,
            sessions[i].clone(),
            alice_id,
            format!("sender{i}"),
            stop.clone(),
        )));
    }
    tokio::time::sleep(BEFORE_BACKUP).await;

    // Alive in the backup, expired before the restored server starts: sent on a session of
    // their own (the senders' own are busy) by a fifth person.
    let mut late = person(&base, "late").await;
    let late_session = Session::start(vec![base.clone()], 0, late.token.clone());
    let mut expiring = Vec::new();
    for k in 0..2 {
        expiring.push(
            send_acked(
                &mut late,
                &late_session,
                alice_id,
                &format!("expires after the backup {k}"),
                Some(BACKUP_LIFE_MS),
            )
            .await,
        );
    }
    let expiring_sent = Instant::now();

    // The backup, while everyone keeps writing.
    let acked_before: HashSet<String> = sessions
        .iter()
        .flat_map(|s| s.lock().acked.keys().cloned().collect::<Vec<_>>())
        .collect();
    let backup_began = Instant::now();
    let mut args = vec![
        "backup".to_owned(),
        "--out".to_owned(),
        backup.display().to_string(),
        "--data-dir".to_owned(),
        data.display().to_string(),
    ];
    if let Some(url) = databases.option(false) {
        args.extend(["--database-url".to_owned(), url]);
    }
    let printed = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        operator(&args)
    })
    .await
    .expect("the backup command");
    let backup_took = backup_began.elapsed();
    assert!(printed.contains("Backup written to"), "{printed}");
    tokio::time::sleep(AFTER_BACKUP).await;
    stop.store(true, Ordering::Relaxed);
    let mut people = Vec::new();
    let mut sent: Vec<Vec<Sent>> = Vec::new();
    for task in tasks {
        let (person, mine) = task.await.expect("a sender");
        people.push(person);
        sent.push(mine);
    }
    // What is acknowledged now, after a moment for the last acks.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked_at_end: HashSet<String> = sessions
        .iter()
        .flat_map(|s| s.lock().acked.keys().cloned().collect::<Vec<_>>())
        .collect();
    drop(server);
    for session in sessions {
        if let Ok(session) = Arc::try_unwrap(session) {
            session.stop().await;
        }
    }
    late_session.stop().await;

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(backup.join("manifest.json")).expect("the manifest"),
    )
    .expect("manifest JSON");
    assert_eq!(manifest["files"]["count"], 1, "{manifest}");
    assert!(manifest["checksums"]
        .as_object()
        .is_some_and(|c| c.keys().any(|k| k.starts_with("files/"))));

    // The restore, into a fresh data folder (and database).
    let mut args = vec![
        "restore".to_owned(),
        "--from".to_owned(),
        backup.display().to_string(),
        "--data-dir".to_owned(),
        restored_data.display().to_string(),
    ];
    if let Some(url) = databases.option(true) {
        args.extend(["--database-url".to_owned(), url]);
    }
    let printed = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        operator(&args)
    })
    .await
    .expect("the restore command");
    assert!(printed.contains("row counts match the backup"), "{printed}");
    let restored_url = databases.restored_url(&restored_data);
    for (_, raw) in &expiring {
        assert_eq!(
            holds_content(&restored_url, raw).await,
            Some(true),
            "a message alive when the backup was taken is in it, whole"
        );
    }
    // Past their self-destruct time before the restored server starts.
    let life = Duration::from_millis(u64::try_from(BACKUP_LIFE_MS).expect("ms"));
    if let Some(left) = (life + Duration::from_millis(500)).checked_sub(expiring_sent.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let restored = tokio::task::block_in_place(|| {
        Served::start(&restored_data, server_options(databases.option(true)))
    });
    assert!(
        tokio::task::block_in_place(|| http_get(restored.addr, "/healthz"))
            .is_some_and(|(status, _)| status == 200),
        "the restored server answers"
    );
    for (id, raw) in &expiring {
        assert_eq!(
            holds_content(&restored_url, raw).await,
            Some(false),
            "{id} expired before the restored server started and must be purged before its \
             first request"
        );
    }

    // What the restored server serves, to alice through the CLI (her profile's session is
    // in the backup) and to each sender through the client library.
    let restored_base = format!("http://{}", restored.addr);
    let alice = User {
        base: restored_base.clone(),
        ..alice
    };
    let mut shown: HashMap<String, String> = HashMap::new();
    for i in 0..SENDERS {
        let peer = format!("sender{i}");
        let cli = {
            let alice = &alice;
            let peer = peer.clone();
            tokio::task::block_in_place(|| cli_history(alice, &peer))
        };
        let person = people.remove(0);
        let api = Api::new(&restored_base).expect("api");
        api.login(&peer, clients::PASSWORD)
            .await
            .expect("the sender logs in on the restored server");
        let keys: KeyRing = person.chat.keys;
        let mut chat = Chat::new(api, keys, ChatState::default());
        let library = library_history(&mut chat, alice_id).await;
        assert_eq!(
            cli.keys().collect::<Vec<_>>(),
            library.keys().collect::<Vec<_>>(),
            "alice's CLI and {peer}'s client library see the same conversation"
        );
        shown.extend(cli);
    }
    let late_history = tokio::task::block_in_place(|| cli_history(&alice, "late"));
    assert!(
        late_history.is_empty(),
        "expired messages are not served: {late_history:?}"
    );
    let download = alice.dir().join("downloaded.bin");
    tokio::task::block_in_place(|| {
        alice.ok(
            &[
                "download",
                &file_msg,
                "--out",
                download.to_str().expect("path"),
            ],
            "",
        )
    });
    assert_eq!(
        std::fs::read(&download).expect("the downloaded file"),
        file_bytes,
        "the file uploaded before the backup comes back whole"
    );

    // The verdict.
    let texts: HashMap<&str, &str> = sent
        .iter()
        .flatten()
        .map(|s| (s.id.as_str(), s.text.as_str()))
        .collect();
    for (id, text) in &shown {
        assert_eq!(
            texts.get(id.as_str()).copied(),
            Some(text.as_str()),
            "message {id} on the restored server is one that was sent, with its text"
        );
    }
    for id in deleted.iter().chain(&expired) {
        assert!(
            !shown.contains_key(id),
            "{id} was deleted or expired before the backup"
        );
    }
    let all: Vec<&Sent> = sent.iter().flatten().collect();
    let before: Vec<&&Sent> = all
        .iter()
        .filter(|s| acked_before.contains(&s.id))
        .collect();
    let missing: Vec<&str> = before
        .iter()
        .filter(|s| !shown.contains_key(&s.id))
        .map(|s| s.id.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{} messages acknowledged before the backup began are missing after the restore: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let after: Vec<&&Sent> = all
        .iter()
        .filter(|s| !acked_before.contains(&s.id) && acked_at_end.contains(&s.id))
        .collect();
    let never: Vec<&&Sent> = all
        .iter()
        .filter(|s| !acked_at_end.contains(&s.id))
        .collect();
    let present = |set: &[&&Sent]| set.iter().filter(|s| shown.contains_key(&s.id)).count();
    report(&format!(
        "backup drill ({label}): {} messages sent by {SENDERS} senders; acknowledged before the \
         backup began: {} (present after the restore: {}); acknowledged after it began: {} \
         (present {}, absent {}); never acknowledged: {} (present {}, absent {}); deleted \
         before: {} and expired before: {} (all absent); alive in the backup but expired \
         before the restart: {} (purged before the first request); the backup took {:.1} s \
         while the chat went on",
        all.len(),
        before.len(),
        present(&before),
        after.len(),
        present(&after),
        after.len() - present(&after),
        never.len(),
        present(&never),
        never.len() - present(&never),
        deleted.len(),
        expired.len(),
        expiring.len(),
        backup_took.as_secs_f64()
    ));
    assert!(
        !after.is_empty(),
        "the chat went on while the backup ran (no message was acknowledged after it began)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_drill_on_sqlite() {
    drill(Databases::Sqlite, "SQLite").await;
}

/// Whether `pg_dump` and `pg_restore` are installed (in PATH or Debian's versioned folder);
/// without them the PostgreSQL drill is skipped in one line, and fails under CI.
fn postgres_tools_or_skip() -> bool {
    let found = ["pg_dump", "pg_restore"].iter().all(|tool| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "command -v {tool} || ls /usr/lib/postgresql/*/bin/{tool}"
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "pg_dump and pg_restore are required under CI for the PostgreSQL restore drill"
        );
        report("pg_dump or pg_restore not installed: the PostgreSQL restore drill is skipped");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_drill_on_postgres() {
    if !postgres_or_skip().await || !postgres_tools_or_skip() {
        return;
    }
    let source = TestDatabase::new(StoreBackend::Postgres)
        .await
        .expect("a PostgreSQL test database");
    let restored = TestDatabase::new(StoreBackend::Postgres)
        .await
        .expect("a second PostgreSQL test database");
    drill(Databases::Postgres { source, restored }, "PostgreSQL").await;
}
