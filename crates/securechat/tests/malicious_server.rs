//! What a malicious server can try to make the command-line client show (issue 9, item 4).
//! A real server runs; the test then plays its operator turned attacker and changes what it
//! stores in its SQLite database, and the client must not show the forged item as genuine.

mod support;

use serde_json::Value;
use sqlx::SqlitePool;

use securechat_proto::b64;
use support::*;

/// Allowance for the sender's clock and transit the client grants a self-destruct timer
/// (`EXPIRY_SKEW_MS` of the crypto crate).
const EXPIRY_SKEW_MS: i64 = 5 * 60 * 1000;

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(since.as_millis()).expect("ms")
}

/// A user's id as the server stores it (16 bytes).
fn user_id(server: &Server, db: &SqlitePool, name: &str) -> Vec<u8> {
    server
        .block_on(
            sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                .bind(name)
                .fetch_one(db),
        )
        .expect("user id")
}

/// Sends a text and returns its message id.
fn send(from: &User, to: &str, args: &[&str]) -> String {
    let mut all = vec!["send", "--to", to];
    all.extend_from_slice(args);
    from.ok(&all, "").trim().to_owned()
}

fn deletions<'a>(events: &'a [Value], msg_id: &str) -> Vec<&'a Value> {
    of_type(events, "deleted")
        .into_iter()
        .filter(|e| e["msg_id"] == msg_id)
        .collect()
}

#[test]
fn a_replayed_tombstone_does_not_delete_another_message() {
    let server = start_sqlite_server();
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    // Alice sends two messages, Bob reads them, Alice deletes the first, and Bob sees the
    // deletion verified.
    let first = send(&alice, "bob", &["first"]);
    let second = send(&alice, "bob", &["second"]);
    assert_eq!(of_type(&bob.listen_once(), "message").len(), 2);
    let out = alice.ok(&["delete", "--with", "bob", &first], "");
    assert!(out.contains("deleted"), "{out}");
    let events = bob.listen_once();
    let deleted = deletions(&events, &first);
    assert_eq!(deleted.len(), 1, "{events:?}");
    assert_eq!(deleted[0]["verified"], true, "{events:?}");
    // Alice's own deletion verifies on her device too.
    let events = alice.listen_once();
    let deleted = deletions(&events, &first);
    assert_eq!(deleted.len(), 1, "{events:?}");
    assert_eq!(deleted[0]["verified"], true, "{events:?}");

    // The server replays Alice's tombstone for the first message as the deletion of the
    // second, in Bob's stream.
    let db = server.database();
    let bob_id = user_id(&server, &db, "bob");
    let second_id = b64::decode(&second).expect("msg id");
    let inserted = server
        .block_on(
            sqlx::query(
                "INSERT INTO inbox (user_id, seq, kind, peer, message, tombstone, ts) \
                 SELECT d.user_id, (SELECT MAX(seq) + 1 FROM inbox WHERE user_id = d.user_id), \
                        'deleted', d.peer, (SELECT id FROM messages WHERE msg_id = $2), \
                        d.tombstone, d.ts + 1 \
                 FROM inbox d WHERE d.user_id = $1 AND d.kind = 'deleted'",
            )
            .bind(&bob_id)
            .bind(&second_id)
            .execute(&db),
        )
        .expect("forge a deletion");
    assert_eq!(inserted.rows_affected(), 1);

    // Bob's client does not take it for Alice's deletion of the second message.
    let events = bob.listen_once();
    let forged = deletions(&events, &second);
    assert_eq!(forged.len(), 1, "the forged removal is shown: {events:?}");
    assert_eq!(
        forged[0]["verified"], false,
        "a tombstone for another message must not verify: {events:?}"
    );
    // Shown as text, the line says so.
    server
        .block_on(
            sqlx::query(
                "INSERT INTO inbox (user_id, seq, kind, peer, message, tombstone, ts) \
                 SELECT user_id, seq + 1, kind, peer, message, tombstone, ts + 1 FROM inbox \
                 WHERE user_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(&bob_id)
            .execute(&db),
        )
        .expect("forge it again");
    let text = bob.ok(&["listen", "--once"], "");
    assert!(
        text.contains(&format!(
            "alice deleted message {second} (the deletion could not be verified)"
        )),
        "{text}"
    );
}

#[test]
fn a_later_receive_time_does_not_extend_a_self_destruct_timer() {
    let server = start_sqlite_server();
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    let sent_after = now_ms();
    let burn = send(&alice, "bob", &["--expires", "60", "burn after reading"]);
    // At the latest, the message expires 60 s after its signed send time (plus the skew).
    let bound = now_ms() + EXPIRY_SKEW_MS + 60_000;
    assert!(bound - sent_after < EXPIRY_SKEW_MS + 120_000);

    // The server claims it received the message a day later than it did.
    let db = server.database();
    let day = 86_400_000_i64;
    server
        .block_on(
            sqlx::query(
                "UPDATE messages SET received_at = received_at + $1, \
                                     expires_at = expires_at + $1",
            )
            .bind(day)
            .execute(&db),
        )
        .expect("move the receive time");

    let events = bob.listen_once();
    let messages = of_type(&events, "message");
    assert_eq!(messages.len(), 1, "{events:?}");
    assert_eq!(messages[0]["msg_id"], burn.as_str());
    let expires_at = messages[0]["expires_at"].as_i64().expect("expires_at");
    assert!(
        expires_at <= bound,
        "listen: the server extended the timer by {} s",
        (expires_at - bound) / 1000
    );

    let history = json_lines(&bob.ok(&["history", "--with", "alice", "--json"], ""));
    assert_eq!(history.len(), 1, "{history:?}");
    let expires_at = history[0]["expires_at"].as_i64().expect("expires_at");
    assert!(
        expires_at <= bound,
        "history: the server extended the timer by {} s",
        (expires_at - bound) / 1000
    );
}

#[test]
fn history_shows_a_replayed_envelope_once() {
    let server = start_sqlite_server();
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    let once = send(&alice, "bob", &["only", "once"]);
    send(&bob, "alice", &["a reply"]);

    // The server stores Alice's envelope a second time (under another row and index id).
    let db = server.database();
    let alice_id = user_id(&server, &db, "alice");
    let copied = server
        .block_on(
            sqlx::query(
                "INSERT INTO messages (sender, msg_id, recipient, envelope, digest, received_at, \
                                       expires_at, sender_seq, recipient_seq) \
                 SELECT sender, randomblob(16), recipient, envelope, digest, received_at + 1, \
                        expires_at, sender_seq, recipient_seq \
                 FROM messages WHERE sender = $1",
            )
            .bind(&alice_id)
            .execute(&db),
        )
        .expect("replay the envelope");
    assert_eq!(copied.rows_affected(), 1);

    let output = bob.run(&["history", "--with", "alice", "--json"], "");
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    let history = json_lines(&stdout);
    let shown: Vec<&Value> = history.iter().filter(|m| m["msg_id"] == once).collect();
    assert_eq!(shown.len(), 1, "shown {} times: {stdout}", shown.len());
    assert_eq!(history.len(), 2, "{stdout}");
    assert!(
        stderr.contains(&format!("message {once} more than once")),
        "{stderr}"
    );
    let text = alice.ok(&["history", "--with", "bob"], "");
    assert_eq!(
        text.matches("only once").count(),
        1,
        "the sender's own history too: {text}"
    );
}
