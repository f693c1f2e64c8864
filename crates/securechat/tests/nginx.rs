//! securechat as several nodes behind a real nginx (deploy/nginx/securechat-proxy.conf): the
//! command-line client only knows nginx's URL, requests spread over both nodes, and the nodes
//! record the client's address nginx forwarded. Skipped (one line) without nginx or
//! PostgreSQL; under CI both must be there.

#[path = "support/balanced.rs"]
mod balanced;
mod support;

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use balanced::{http_request, Balanced, CLIENT_ADDRESS, PROXY_SOURCE};
use support::*;

/// How long a live message may take to arrive.
const LIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// A user whose every command goes to `base`.
fn user(base: &str, name: &'static str) -> User {
    User {
        name,
        base: base.to_owned(),
        config: tempfile::tempdir().expect("config dir"),
    }
}

/// A file of `len` bytes that is not all one value.
fn file_bytes(len: u32, salt: u32) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 1024 + salt) % 251).expect("byte"))
        .collect()
}

/// `who` uploads `data` to `to`; `to` sees it in `listen` and downloads it intact.
fn file_goes(who: &User, to: &User, data: &[u8], name: &str) {
    let source = who.dir().join(name);
    std::fs::write(&source, data).expect("write file");
    let msg = who.ok(
        &[
            "upload",
            "--to",
            to.name,
            source.to_str().expect("path"),
            "--caption",
            name,
        ],
        "",
    );
    let msg = msg.trim().to_owned();
    let events = to.listen_once();
    let files = of_type(&events, "file");
    assert_eq!(files.len(), 1, "{events:?}");
    assert_eq!(files[0]["msg_id"], msg.as_str());
    assert_eq!(files[0]["file"]["name"], name);
    let target = to.dir().join(format!("got-{name}"));
    to.ok(
        &["download", &msg, "--out", target.to_str().expect("path")],
        "",
    );
    assert_eq!(std::fs::read(&target).expect("downloaded"), data);
}

#[test]
fn two_nodes_behind_nginx_serve_the_client_flow() {
    let Some(cluster) = Balanced::start() else {
        return;
    };
    let url = cluster.nginx.base();
    let alice = user(&url, "alice");
    let bob = user(&url, "bob");
    alice.register();
    bob.register();
    // Bob also logs in on a second device, through nginx too.
    let laptop = user(&url, "bob");
    let out = laptop.ok(
        &["login", "--username", "bob", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.contains("Logged in as bob"), "{out}");

    // A message through nginx: in Bob's stream and in Alice's history.
    let sent = alice.ok(&["send", "--to", "bob", "hello", "through", "nginx"], "");
    let events = bob.listen_once();
    let messages = of_type(&events, "message");
    assert_eq!(messages.len(), 1, "{events:?}");
    assert_eq!(messages[0]["text"], "hello through nginx");
    assert_eq!(messages[0]["msg_id"], sent.trim());
    let history = alice.ok(&["history", "--with", "bob"], "");
    assert!(history.contains("alice: hello through nginx"), "{history}");

    // A file each way (larger than nginx's buffers, streamed through).
    file_goes(&alice, &bob, &file_bytes(700 * 1024, 1), "to-bob.bin");
    file_goes(&bob, &alice, &file_bytes(300 * 1024, 2), "to-alice.bin");

    // Round robin: both nodes answered requests, as nginx's log and their metrics say.
    let log = cluster.nginx.access_log();
    let per_node: Vec<usize> = cluster
        .nodes
        .iter()
        .map(|n| log.matches(&format!("upstream={}", n.addr)).count())
        .collect();
    let metrics: Vec<f64> = cluster
        .nodes
        .iter()
        .map(|n| n.metric("securechat_http_requests_total"))
        .collect();
    eprintln!("requests per node: nginx log {per_node:?}, node metrics {metrics:?}");
    for (i, node) in cluster.nodes.iter().enumerate() {
        assert!(
            per_node[i] >= 5,
            "node {} answered {} requests through nginx:\n{log}",
            node.addr,
            per_node[i]
        );
        assert!(
            metrics[i] >= 5.0,
            "node {} counted {}",
            node.addr,
            metrics[i]
        );
    }

    // The nodes recorded the client's address (127.0.0.1), not nginx's (127.0.0.2).
    let addresses = cluster.session_addresses();
    assert_eq!(addresses.len(), 3, "{addresses:?}");
    assert!(
        addresses.iter().all(|ip| ip == CLIENT_ADDRESS),
        "sessions recorded {addresses:?}; the client is {CLIENT_ADDRESS}, nginx {PROXY_SOURCE}"
    );
    let logged_in = cluster
        .nodes
        .iter()
        .map(|n| n.log())
        .collect::<String>()
        .lines()
        .filter(|l| l.contains("logged in"))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert!(!logged_in.is_empty());
    assert!(
        logged_in
            .iter()
            .all(|l| l.contains(&format!("ip={CLIENT_ADDRESS}"))),
        "{logged_in:?}"
    );

    // A client cannot choose its recorded address with forwarding headers of its own: nginx
    // drops its `Forwarded` and appends the real address to its X-Forwarded-For.
    // (A login as current clients make it: OPAQUE's start, then the token request.)
    let (login_id, finalization) = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(opaque_start(&url, "alice", PASSWORD, &[]))
        .expect("alice's password opens the answer");
    let body = opaque_grant(&login_id, &finalization).to_string();
    let head = format!(
        "POST /api/v1/auth/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Forwarded: for=203.0.113.66\r\nX-Forwarded-For: 198.51.100.9\r\n",
        cluster.nginx.addr
    );
    let answer = http_request(cluster.nginx.addr, &head, &body);
    assert!(matches!(answer, Some((200, _))), "{answer:?}");
    let addresses = cluster.session_addresses();
    assert_eq!(addresses.len(), 4, "{addresses:?}");
    assert_eq!(
        addresses.last().map(String::as_str),
        Some(CLIENT_ADDRESS),
        "{addresses:?}"
    );
}

/// Lines of a child's standard output, as they come.
fn lines_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Needs cross-node live delivery (nodes tell each other through Redis): a listener on one
/// node gets, live, a message sent through the other.
#[test]
fn a_message_sent_on_one_node_arrives_live_on_the_other() {
    let Some(cluster) = Balanced::start() else {
        return;
    };
    let url = cluster.nginx.base();
    let alice = user(&url, "alice");
    let bob = user(&url, "bob");
    alice.register();
    bob.register();

    // Bob listens through nginx; once caught up, his socket is on one of the nodes.
    let mut child = bob
        .command(&["listen", "--json", "--count", "1"])
        .spawn()
        .expect("spawn listen");
    let lines = lines_of(child.stdout.take().expect("stdout"));
    let first = lines.recv_timeout(LIVE_TIMEOUT).expect("caught_up");
    let first: Value = serde_json::from_str(&first).expect("json");
    assert_eq!(first["type"], "caught_up");
    let sockets: Vec<f64> = cluster
        .nodes
        .iter()
        .map(|n| n.metric("securechat_ws_connections"))
        .collect();
    let listening = sockets
        .iter()
        .position(|&n| n >= 1.0)
        .unwrap_or_else(|| panic!("no node holds Bob's socket: {sockets:?}"));
    let other = &cluster.nodes[1 - listening];

    // Alice sends through the other node (straight to it, so the test knows which).
    let direct = User {
        name: "alice",
        base: other.base(),
        config: alice.config,
    };
    let sent = direct.ok(&["send", "--to", "bob", "across", "nodes"], "");
    let message = loop {
        let Ok(line) = lines.recv_timeout(LIVE_TIMEOUT) else {
            let _ = child.kill();
            panic!(
                "Bob's listener on node {} did not get, within {LIVE_TIMEOUT:?}, the message \
                 sent through node {} (cross-node live delivery)",
                cluster.nodes[listening].addr, other.addr
            );
        };
        let event: Value = serde_json::from_str(&line).expect("json");
        if event["type"] == "message" {
            break event;
        }
    };
    assert_eq!(message["text"], "across nodes");
    assert_eq!(message["msg_id"], sent.trim());
    let status = wait(child, &["listen"]).status;
    assert!(status.success(), "listen --count 1 exits after one message");
}
