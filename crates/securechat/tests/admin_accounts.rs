//! An operator looking after accounts with `securechat admin` while the server runs: listing
//! accounts and sessions, disabling (the account's open WebSocket closes within a couple of
//! seconds and its logins are refused until it is enabled), deleting (a peer's open socket
//! sees the account's messages disappear, and their files go), revoking sessions, and the
//! refusals and blocks the server recorded, lifted by `unblock` on the running server.

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use support::*;

/// How long a running server may take to notice what `admin` wrote (its poll runs every
/// second).
const NOTICE: Duration = Duration::from_secs(3);

/// Runs `securechat admin ARGS… <the server's options>` as `user`; returns its output.
fn admin(server: &Server, user: &User, args: &[&str]) -> String {
    let all = admin_command(server, args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    user.ok(&all, "")
}

/// Like `admin`, for a command that must fail; returns its standard error.
fn admin_fails(server: &Server, user: &User, args: &[&str]) -> String {
    let all = admin_command(server, args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    user.fails(&all, "")
}

fn admin_command(server: &Server, args: &[&str]) -> Vec<String> {
    let mut all = vec!["admin".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all.extend(server.admin_args());
    all
}

/// The JSON line of `admin … --json` output whose `key` is `value`.
fn line_with<'a>(lines: &'a [Value], key: &str, value: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l[key] == value)
}

/// Asks for tokens over HTTP as a current client does (OPAQUE), from the forwarded address
/// `from` when the server trusts the loopback proxy; returns the status and the body.
fn login(server: &Server, name: &str, password: &str, from: Option<&str>) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = from.map(|ip| ("X-Forwarded-For", ip)).into_iter().collect();
    server.block_on(opaque_token(&server.base, name, password, &headers))
}

/// An access token of a new session of `name`.
fn access_token(server: &Server, name: &str) -> String {
    let (status, body) = login(server, name, PASSWORD, None);
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open WebSocket, authenticated and caught up; the frames of its replay.
fn open_socket(server: &Server, token: &str) -> (Ws, Vec<Value>) {
    let url = format!("{}/api/v1/ws", server.base.replacen("http://", "ws://", 1));
    server.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket");
        let auth = json!({"type": "auth", "token": token, "since": 0, "protocol": 2});
        ws.send(Message::text(auth.to_string()))
            .await
            .expect("auth");
        let mut replay = Vec::new();
        loop {
            let frame = next_frame(&mut ws, Duration::from_secs(10))
                .await
                .expect("a frame before caught_up");
            let done = frame["type"] == "caught_up";
            replay.push(frame);
            if done {
                return (ws, replay);
            }
        }
    })
}

/// The next text frame as JSON; `None` when the socket closed or nothing came in `patience`.
async fn next_frame(ws: &mut Ws, patience: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match message.ok()? {
            Message::Text(text) => {
                return Some(serde_json::from_str(text.as_str()).expect("a JSON frame"))
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Frames until the socket closes (or `patience` ends: then `closed` is false).
fn frames_until_closed(server: &Server, ws: &mut Ws, patience: Duration) -> (Vec<Value>, bool) {
    server.block_on(async {
        let deadline = Instant::now() + patience;
        let mut frames = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match next_frame(ws, left).await {
                Some(frame) => frames.push(frame),
                None => return (frames, Instant::now() < deadline),
            }
        }
        (frames, false)
    })
}

/// `securechat login` for `user` (the password on standard input); its output.
fn cli_login(user: &User) -> std::process::Output {
    user.run(
        &["login", "--username", user.name, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
}

#[test]
fn a_disabled_account_is_signed_out_at_once_and_refused_until_enabled() {
    let server = start_server();
    let ann = User::new(&server, "ann");
    let op = User::new(&server, "op");
    ann.register();
    let token = access_token(&server, "ann");
    let (mut ws, _) = open_socket(&server, &token);

    let users = json_lines(&admin(&server, &op, &["users", "--json"]));
    let listed = line_with(&users, "username", "ann").expect("ann listed");
    assert_eq!(listed["state"], "active");
    assert_eq!(
        listed["active_sessions"], 2,
        "the CLI's and this test's: {listed}"
    );
    assert!(listed["last_seen"].as_i64().is_some(), "{listed}");
    let text = admin(&server, &op, &["users"]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ann ") && l.ends_with("active")),
        "{text}"
    );

    let out = admin(&server, &op, &["disable", "ann"]);
    assert!(out.contains("Disabled ann: 2 session(s) ended"), "{out}");
    let disabled_at = Instant::now();
    let (frames, closed) = frames_until_closed(&server, &mut ws, NOTICE);
    assert!(closed, "the socket stayed open {NOTICE:?}: {frames:?}");
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "error" && f["code"] == "session_revoked"),
        "{frames:?}"
    );
    eprintln!(
        "socket closed {:?} after the disabling",
        disabled_at.elapsed()
    );

    let refused = cli_login(&ann);
    let (_, stderr) = texts(&refused);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("this account is disabled; ask the server's operator"),
        "{stderr}"
    );
    let (status, body) = login(&server, "ann", PASSWORD, None);
    assert_eq!((status, &body["error"]), (403, &json!("account_disabled")));
    let wrong = login(&server, "ann", "not the password at all", None);
    assert_eq!(
        wrong.1["error"], "invalid_grant",
        "a wrong password says nothing about the account"
    );
    let users = json_lines(&admin(&server, &op, &["users", "--json"]));
    let listed = line_with(&users, "username", "ann").expect("ann listed");
    assert_eq!(
        (&listed["state"], &listed["active_sessions"]),
        (&json!("disabled"), &json!(0))
    );

    let out = admin(&server, &op, &["enable", "ann"]);
    assert!(out.contains("Enabled ann"), "{out}");
    let again = admin(&server, &op, &["enable", "ann"]);
    assert!(again.contains("ann was not disabled"), "{again}");
    let back = cli_login(&ann);
    assert!(back.status.success(), "{:?}", texts(&back));
    ann.ok(&["users"], "");

    let unknown = admin_fails(&server, &op, &["disable", "nobody"]);
    assert!(unknown.contains("no account \"nobody\""), "{unknown}");
}

#[test]
fn a_deleted_accounts_messages_leave_a_peers_open_socket_and_its_files_go() {
    let server = start_server();
    let mum = User::new(&server, "mum");
    let kid = User::new(&server, "kid");
    let op = User::new(&server, "op");
    mum.register();
    kid.register();
    kid.ok(&["send", "--to", "mum", "first from the kid"], "");
    kid.ok(&["send", "--to", "mum", "second from the kid"], "");
    let photo = kid.dir().join("photo.jpg");
    std::fs::write(&photo, vec![7u8; 40_000]).expect("a file to send");
    kid.ok(
        &["upload", "--to", "mum", photo.to_str().expect("path")],
        "",
    );
    mum.ok(&["send", "--to", "kid", "from mum"], "");
    let blobs = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join("files"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().is_file())
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(blobs(server.data_dir()), 1, "the kid's file is stored");

    let token = access_token(&server, "mum");
    let (mut ws, replay) = open_socket(&server, &token);
    let from_kid: Vec<&Value> = replay
        .iter()
        .filter(|f| f["type"] == "message" && f["from"] != replay[0]["user_id"])
        .collect();
    assert_eq!(from_kid.len(), 3, "two texts and a file: {replay:?}");
    let kid_id = from_kid[0]["from"].clone();

    let unconfirmed = admin_fails(&server, &op, &["delete", "kid"]);
    assert!(unconfirmed.contains("--yes"), "{unconfirmed}");
    let out = admin(&server, &op, &["delete", "kid", "--yes"]);
    assert!(
        out.contains("Deleted kid: 3 message(s) and 1 file(s) removed for both sides"),
        "{out}"
    );

    // Mum's open socket is told while the server runs.
    let started = Instant::now();
    let mut deleted = Vec::new();
    while deleted.len() < 3 {
        let left = NOTICE.checked_sub(started.elapsed()).unwrap_or_default();
        let frame = server
            .block_on(next_frame(&mut ws, left))
            .unwrap_or_else(|| panic!("only {} deleted frames came: {deleted:?}", deleted.len()));
        if frame["type"] == "deleted" {
            deleted.push(frame);
        }
    }
    assert!(deleted.iter().all(|f| f["from"] == kid_id), "{deleted:?}");
    eprintln!(
        "deleted frames came {:?} after the deletion",
        started.elapsed()
    );

    assert_eq!(blobs(server.data_dir()), 0, "the file's bytes are gone");
    let history = mum.ok(&["history", "--with", "kid"], "");
    assert!(history.contains("from mum"), "{history}");
    assert!(!history.contains("from the kid"), "{history}");
    let users = json_lines(&admin(&server, &op, &["users", "--json"]));
    let kid_row = line_with(&users, "username", "kid").expect("the name stays");
    assert_eq!(kid_row["state"], "deleted");
    let gone = admin_fails(&server, &op, &["delete", "kid", "--yes"]);
    assert!(gone.contains("no account"), "{gone}");
}

#[test]
fn revoking_ends_one_session_or_every_session_of_an_account() {
    let server = start_server();
    let ann = User::new(&server, "ann");
    let op = User::new(&server, "op");
    ann.register();
    let token = access_token(&server, "ann");
    let (mut ws, _) = open_socket(&server, &token);

    let sessions = json_lines(&admin(&server, &op, &["sessions", "ann", "--json"]));
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions
        .iter()
        .all(|s| s["user"] == "ann" && s["ip"] == "127.0.0.1"));
    // Oldest first: the CLI's, then the socket's.
    let socket_session = sessions[1]["id"].as_str().expect("id").to_owned();
    let all = admin(&server, &op, &["sessions"]);
    assert!(all.contains(&socket_session), "{all}");

    let out = admin(&server, &op, &["revoke", &socket_session]);
    assert!(out.contains("Revoked session"), "{out}");
    let (frames, closed) = frames_until_closed(&server, &mut ws, NOTICE);
    assert!(
        closed,
        "the revoked session's socket stayed open: {frames:?}"
    );
    ann.ok(&["users"], ""); // the CLI's session goes on
    let again = admin_fails(&server, &op, &["revoke", &socket_session]);
    assert!(again.contains("no session"), "{again}");
    let nonsense = admin_fails(&server, &op, &["revoke", "not-a-session"]);
    assert!(nonsense.contains("is not a session id"), "{nonsense}");

    let out = admin(&server, &op, &["revoke", "--user", "ann"]);
    assert!(out.contains("Revoked 1 session(s) of ann"), "{out}");
    // The server may have checked the CLI's access token a moment ago (it keeps a positive
    // check for a few seconds); its poll forgets a revoked session within a second.
    let started = Instant::now();
    let signed_out = loop {
        let output = ann.run(&["users"], "");
        if !output.status.success() {
            break texts(&output).1;
        }
        assert!(
            started.elapsed() < NOTICE,
            "the revoked session still works"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(signed_out.contains("log in again"), "{signed_out}");
    assert!(admin(&server, &op, &["sessions", "ann", "--json"])
        .trim()
        .is_empty());
}

#[test]
fn blocks_lists_refusals_and_unblock_lifts_them_on_the_running_server() {
    let server = start_server_with(|s| {
        // Clients "behind" the loopback proxy: each test login says where it comes from.
        s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
        s.ip_rule.refuse_users_per_ip = 2;
        s.login_limits.per_ip = 2;
        s.login_limits.per_account = 2;
    });
    let (ann, bob, op) = (
        User::new(&server, "ann"),
        User::new(&server, "bob"),
        User::new(&server, "op"),
    );
    ann.register();
    bob.register();

    // The IP rule: ann signed in from 203.0.113.7, so bob may not sign in there too.
    assert_eq!(login(&server, "ann", PASSWORD, Some("203.0.113.7")).0, 200);
    let (status, body) = login(&server, "bob", PASSWORD, Some("203.0.113.7"));
    assert_eq!((status, &body["error"]), (403, &json!("ip_policy")));
    // Failed logins from one address use up its limit: then even ann's right password
    // from there is refused.
    for _ in 0..2 {
        assert_eq!(
            login(&server, "nobody", "wrong password!", Some("198.51.100.9")).0,
            400
        );
    }
    let (status, body) = login(&server, "ann", PASSWORD, Some("198.51.100.9"));
    assert_eq!((status, &body["error"]), (429, &json!("rate_limited")));
    // A name no account has is recorded only when shaped like one.
    for name in ["nobody", "my secret passphrase"] {
        assert_eq!(
            login(&server, name, "anything", Some("198.51.100.9")).0,
            429
        );
    }
    // Failures for bob's account from addresses it never used lock it there.
    for ip in ["198.51.100.20", "198.51.100.21"] {
        assert_eq!(login(&server, "bob", "wrong password!", Some(ip)).0, 400);
    }
    assert_eq!(
        login(&server, "bob", PASSWORD, Some("198.51.100.22")).0,
        429
    );

    // The server writes what it refused within a second.
    let expected = [
        ("ip_rule_login", "203.0.113.7", json!("bob")),
        ("login_blocked_ip", "198.51.100.9", json!("ann")),
        ("login_blocked_ip", "198.51.100.9", json!("nobody")),
        ("login_blocked_ip", "198.51.100.9", Value::Null),
        ("login_blocked_account", "198.51.100.22", json!("bob")),
    ];
    let recorded = |events: &[Value], (kind, ip, account): &(&str, &str, Value)| {
        events
            .iter()
            .any(|e| e["kind"] == *kind && e["ip"] == *ip && e["account"] == *account)
    };
    let started = Instant::now();
    loop {
        let events = json_lines(&admin(&server, &op, &["blocks", "--json"]));
        if expected.iter().all(|e| recorded(&events, e)) {
            assert_eq!(events.len(), expected.len(), "nothing else: {events:?}");
            break;
        }
        assert!(
            started.elapsed() < NOTICE,
            "not all of {expected:?} recorded: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = admin(&server, &op, &["blocks"]);
    assert!(
        text.lines()
            .any(|l| l.contains("login_blocked_ip") && l.contains("ip 198.51.100.9")),
        "{text}"
    );

    // Unblocked: the running server lets them in again.
    let lets_in = |name: &str, ip: &str| {
        let started = Instant::now();
        loop {
            let (status, body) = login(&server, name, PASSWORD, Some(ip));
            if status == 200 {
                return started.elapsed();
            }
            assert_eq!(status, 429, "{body}");
            assert!(
                started.elapsed() < NOTICE,
                "{name} still refused from {ip}: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    admin(&server, &op, &["unblock", "--ip", "198.51.100.9"]);
    eprintln!(
        "address unblocked after {:?}",
        lets_in("ann", "198.51.100.9")
    );
    let out = admin(&server, &op, &["unblock", "--user", "bob"]);
    assert!(out.contains("Unblocked the account bob"), "{out}");
    eprintln!(
        "account unblocked after {:?}",
        lets_in("bob", "198.51.100.22")
    );
    let bad = admin_fails(&server, &op, &["unblock", "--ip", "not-an-address"]);
    assert!(bad.contains("is not an IP address"), "{bad}");
    let listed = json_lines(&admin(&server, &op, &["blocks", "--json"]));
    assert!(
        line_with(&listed, "kind", "unblock_ip").is_some(),
        "{listed:?}"
    );
}
