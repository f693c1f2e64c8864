//! The command-line client end to end: a real server runs in this process on a random port,
//! and the built `securechat` binary is driven as a user would, one config folder per user.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use support::*;

/// The safety-number digits `keys show --user` prints.
fn safety_number(out: &str) -> String {
    let start = out
        .lines()
        .position(|l| l.starts_with("Safety number with"))
        .unwrap_or_else(|| panic!("no safety number in: {out}"));
    let digits: String = out
        .lines()
        .skip(start + 1)
        .take(3)
        .flat_map(|l| l.chars().filter(char::is_ascii_digit))
        .collect();
    assert_eq!(digits.len(), 60, "{out}");
    digits
}

#[test]
fn two_users_chat_share_files_delete_and_move_keys_through_the_cli() {
    let server = start_server();
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    // Local files are private and hold no plaintext password.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let profile = alice.profile_dir();
        assert_eq!(mode(&profile), 0o700);
        for file in ["keys.json", "session.json", "profile.json"] {
            assert_eq!(mode(&profile.join(file)), 0o600, "{file}");
        }
        let session = std::fs::read_to_string(profile.join("session.json")).expect("session");
        assert!(!session.contains(PASSWORD));
    }

    let users = alice.ok(&["users"], "");
    assert!(users.starts_with("USERNAME"), "{users}");
    assert!(
        users.lines().any(|l| l.starts_with("alice (you)")),
        "{users}"
    );
    assert!(users.lines().any(|l| l.starts_with("bob ")), "{users}");

    // Alice writes; Bob's listen shows it, once.
    let hello = alice.ok(&["send", "--to", "bob", "hello"], "");
    let hello = hello.trim().to_owned();
    assert_eq!(hello.len(), 22, "send prints the message id: {hello}");
    let events = bob.listen_once();
    let messages = of_type(&events, "message");
    assert_eq!(messages.len(), 1, "{events:?}");
    assert_eq!(messages[0]["text"], "hello");
    assert_eq!(messages[0]["from_username"], "alice");
    assert_eq!(messages[0]["msg_id"], hello.as_str());
    assert_eq!(messages[0]["hidden"], false);
    assert_eq!(
        bob.listen_once().len(),
        1,
        "a second listen resumes after what was shown"
    );

    // Bob replies (hidden, self-destructing in an hour); Alice's history shows both in order.
    let reply = bob.ok(
        &[
            "send",
            "--to",
            "alice",
            "--hidden",
            "--expires",
            "3600",
            "hi",
            "alice",
        ],
        "",
    );
    let reply = reply.trim().to_owned();
    let history = alice.ok(&["history", "--with", "bob"], "");
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(lines[0].ends_with("] alice: hello"), "{history}");
    assert!(
        lines[1].contains("] bob: (hidden) hi alice (expires "),
        "{history}"
    );
    let json = json_lines(&alice.ok(&["history", "--with", "bob", "--json"], ""));
    assert_eq!(json[1]["msg_id"], reply.as_str());
    assert!(json[1]["expires_at"].as_i64().is_some());

    // Both see the same safety number.
    let from_alice = safety_number(&alice.ok(&["keys", "show", "--user", "bob"], ""));
    let from_bob = safety_number(&bob.ok(&["keys", "show", "--user", "alice"], ""));
    assert_eq!(from_alice, from_bob);

    // A 300 KiB file arrives intact.
    let data: Vec<u8> = (0..300 * 1024u32)
        .map(|i| u8::try_from((i * 7 + i / 1024) % 251).expect("byte"))
        .collect();
    let source = alice.dir().join("report.bin");
    std::fs::write(&source, &data).expect("write file");
    let file_msg = alice.ok(
        &[
            "upload",
            "--to",
            "bob",
            source.to_str().expect("path"),
            "--caption",
            "the report",
        ],
        "",
    );
    let file_msg = file_msg.trim().to_owned();
    let events = bob.listen_once();
    let files = of_type(&events, "file");
    assert_eq!(files.len(), 1, "{events:?}");
    assert_eq!(files[0]["msg_id"], file_msg.as_str());
    assert_eq!(files[0]["text"], "the report");
    assert_eq!(files[0]["file"]["name"], "report.bin");
    assert_eq!(files[0]["file"]["size"], 300 * 1024);
    let target = bob.dir().join("downloaded.bin");
    let out = bob.ok(
        &[
            "download",
            &file_msg,
            "--out",
            target.to_str().expect("path"),
        ],
        "",
    );
    let expected = hex::encode(Sha256::digest(&data));
    assert_eq!(
        out.split_whitespace().next(),
        Some(expected.as_str()),
        "{out}"
    );
    assert_eq!(std::fs::read(&target).expect("downloaded"), data);
    let again = bob.fails(
        &[
            "download",
            &file_msg,
            "--out",
            target.to_str().expect("path"),
        ],
        "",
    );
    assert!(again.contains("exists"), "{again}");

    // Alice deletes "hello": Bob is told, with a tombstone that verifies, and it is gone.
    let out = alice.ok(&["delete", "--with", "bob", &hello], "");
    assert!(out.contains(&hello), "{out}");
    let events = bob.listen_once();
    let deleted = of_type(&events, "deleted");
    assert_eq!(deleted.len(), 1, "{events:?}");
    assert_eq!(deleted[0]["msg_id"], hello.as_str());
    assert_eq!(deleted[0]["reason"], "deleted");
    assert_eq!(deleted[0]["verified"], true);
    let history = alice.ok(&["history", "--with", "bob"], "");
    assert!(!history.contains("hello"), "{history}");
    assert!(history.contains("[file] report.bin"), "{history}");

    // Alice rotates her key: new messages to her use it, old ones still open.
    let out = alice.ok(&["keys", "rotate"], "");
    assert!(out.contains("New encryption key"), "{out}");
    let shown = alice.ok(&["keys", "show"], "");
    assert_eq!(shown.matches("active").count(), 1, "{shown}");
    assert_eq!(shown.matches("retired").count(), 1, "{shown}");
    bob.ok(&["send", "--to", "alice", "after", "rotation"], "");
    let events = alice.listen_once();
    assert!(
        of_type(&events, "message")
            .iter()
            .any(|m| m["text"] == "after rotation"),
        "{events:?}"
    );
    let history = alice.ok(&["history", "--with", "bob"], "");
    assert!(history.contains("hi alice"), "{history}");
    assert!(history.contains("after rotation"), "{history}");

    // Bob moves to a new device with his exported keys and reads the old conversation.
    let key_file = bob.dir().join("bob.keys");
    let key_path = key_file.to_str().expect("path");
    bob.ok(
        &["keys", "export", "--out", key_path, "--passphrase-stdin"],
        &format!("{PASSPHRASE}\n"),
    );
    let exported = std::fs::read_to_string(&key_file).expect("key file");
    let local = std::fs::read_to_string(bob.profile_dir().join("keys.json")).expect("keys");
    let seed: Value = serde_json::from_str(&local).expect("keys json");
    assert!(
        !exported.contains(seed["ik_seed"].as_str().expect("seed")),
        "the key file is encrypted"
    );

    let laptop = User::new(&server, "bob");
    let out = laptop.ok(
        &["login", "--username", "bob@example.org", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.contains("Logged in as bob"), "{out}");
    assert!(out.contains("securechat keys import"), "{out}");
    let err = laptop.fails(&["history", "--with", "alice"], "");
    assert!(err.contains("keys import"), "{err}");
    let err = laptop.fails(
        &["keys", "import", key_path, "--passphrase-stdin"],
        "not the passphrase\n",
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    laptop.ok(
        &["keys", "import", key_path, "--passphrase-stdin"],
        &format!("{PASSPHRASE}\n"),
    );
    let history = laptop.ok(&["history", "--with", "alice"], "");
    assert!(history.contains("bob: (hidden) hi alice"), "{history}");
    assert!(history.contains("alice: [file] report.bin"), "{history}");
    assert!(history.contains("bob: after rotation"), "{history}");
    let copy = laptop.dir().join("copy.bin");
    laptop.ok(
        &["download", &file_msg, "--out", copy.to_str().expect("path")],
        "",
    );
    assert_eq!(std::fs::read(&copy).expect("copy"), data);

    // Logging out ends the session; commands then say so.
    let out = laptop.ok(&["logout"], "");
    assert!(out.contains("Logged out"), "{out}");
    let err = laptop.fails(&["users"], "");
    assert!(err.contains("not logged in"), "{err}");
    assert!(laptop.profile_dir().join("keys.json").exists(), "keys stay");
}

#[test]
fn listen_follows_live_messages_and_errors_are_clear() {
    let server = start_server();
    let carol = User::new(&server, "carol");
    let dave = User::new(&server, "dave");
    carol.register();
    dave.register();

    // Dave listens; once it has caught up, Carol writes, and the message arrives live.
    let mut child = dave
        .command(&["listen", "--json", "--count", "1"])
        .spawn()
        .expect("spawn listen");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("read");
    let first: Value = serde_json::from_str(&first).expect("json");
    assert_eq!(first["type"], "caught_up");
    let sent = carol.ok(&["send", "--to", "dave", "live", "news"], "");
    // Carol's send connects, so her presence may come first.
    let mut seen = Vec::new();
    let message = loop {
        let line = lines.next().expect("a message line").expect("read");
        let event: Value = serde_json::from_str(&line).expect("json");
        if event["type"] == "message" {
            break event;
        }
        seen.push(event);
    };
    // Only presence items may come first: Carol's (her send connects) or Dave's own (his
    // listen connected; presence is sent at most every 0.5 s, so it may follow caught_up).
    assert!(
        seen.iter().all(|e| e["type"] == "presence"
            && e["changes"].as_array().is_some_and(|c| {
                !c.is_empty()
                    && c.iter()
                        .all(|c| c["username"] == "carol" || c["username"] == "dave")
            })),
        "{seen:?}"
    );
    assert_eq!(message["text"], "live news");
    assert_eq!(message["from_username"], "carol");
    assert_eq!(message["msg_id"], sent.trim());
    drop(lines);
    let status = wait(child, &["listen"]).status;
    assert!(status.success(), "listen --count 1 exits after one message");
    // The position was saved on exit: nothing is shown twice.
    assert!(of_type(&dave.listen_once(), "message").is_empty());

    let err = carol.fails(&["send", "--to", "zed", "hi"], "");
    assert!(err.contains("no user named \"zed\""), "{err}");
    let err = carol.fails(&["send", "--to", "carol", "hi"], "");
    assert!(err.contains("is you"), "{err}");
    let err = carol.fails(&["send", "--to", "dave", "--expires", "1", "hi"], "");
    assert!(err.contains("--expires"), "{err}");
    let err = carol.fails(&["delete", "--with", "dave", "not-an-id"], "");
    assert!(err.contains("not a message id"), "{err}");

    // A server that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let down = format!("http://127.0.0.1:{port}");
    let err = carol.fails(&["users", "--server", &down], "");
    assert!(err.contains("cannot reach the server"), "{err}");

    // Wrong passwords, bad names, missing login.
    let eve = User::new(&server, "eve");
    let err = eve.fails(&["users"], "");
    assert!(err.contains("not logged in"), "{err}");
    let err = eve.fails(
        &["login", "--username", "carol", "--password-stdin"],
        "wrong password!\n",
    );
    assert!(err.contains("wrong username or password"), "{err}");
    let err = eve.fails(
        &[
            "register",
            "--username",
            "e v e",
            "--email",
            "eve@example.org",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(err.contains("invalid username"), "{err}");
    let err = eve.fails(
        &[
            "register",
            "--username",
            "carol",
            "--email",
            "eve@example.org",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(err.to_lowercase().contains("taken"), "{err}");
    assert!(
        !eve.profile_dir().join("keys.json").exists(),
        "a failed registration leaves no keys behind"
    );
    let err = eve.fails(&["users", "--profile", "../x"], "");
    assert!(err.contains("invalid profile name"), "{err}");
}
