//! `listen` never skips an event: when a live event arrives with a `seq` beyond the next one
//! (an event was lost on its way, as can happen between server nodes), it reconnects resuming
//! from the last contiguous `seq`, and the server's replay brings the missing one. And, through
//! the same relay, `listen` gives up at once, in plain words, when a server it reconnects to
//! does not speak its protocol version.

mod support;
#[path = "support/ws_relay.rs"]
mod ws_relay;

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use support::*;
use ws_relay::Relay;

const LIVE_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn a_live_gap_is_filled_by_resuming_not_skipped() {
    let server = start_server();
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    // Bob listens through a relay that loses the first live message of his first socket.
    let relay = Relay::start(&server.base);
    let bob = User {
        base: relay.base.clone(),
        ..bob
    };
    let mut child = bob
        .command(&["listen", "--json", "--count", "2"])
        .spawn()
        .expect("spawn listen");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first: Value =
        serde_json::from_str(&lines.recv_timeout(LIVE_TIMEOUT).expect("a line")).expect("json");
    assert_eq!(first["type"], "caught_up");

    let one = alice.ok(&["send", "--to", "bob", "one"], "");
    let two = alice.ok(&["send", "--to", "bob", "two"], "");
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let Ok(line) = lines.recv_timeout(LIVE_TIMEOUT) else {
            let _ = child.kill();
            let (_, stderr) = texts(&wait(child, &["listen"]));
            panic!(
                "listen showed {messages:?} and then nothing for {LIVE_TIMEOUT:?} (the relay \
                 dropped {}): the message after the gap was taken and the missing one \
                 skipped\nstderr: {stderr}",
                relay.dropped()
            );
        };
        let event: Value = serde_json::from_str(&line).expect("json");
        if event["type"] == "message" {
            messages.push(event);
        }
    }
    let output = wait(child, &["listen"]);
    let (_, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(relay.dropped(), 1, "the relay made a gap");
    assert!(relay.sockets() >= 2, "listen reconnected");
    assert!(stderr.contains("missed events"), "{stderr}");
    // Both, in order, each once.
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m["msg_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, [one.trim(), two.trim()], "{messages:?}");
    assert_eq!(messages[0]["text"], "one");
    assert_eq!(messages[1]["text"], "two");
    // The saved position is past both: nothing comes again.
    assert!(of_type(&bob.listen_once(), "message").is_empty());
}

#[test]
fn listen_stops_with_plain_words_when_the_server_does_not_speak_its_protocol_version() {
    let server = start_server();
    let bob = User::new(&server, "bob");
    bob.register();
    // The first socket ends once caught up (a server restarting); on the next, the server
    // is told a version it does not speak.
    let relay = Relay::start_as(&server.base, ws_relay::Behaviour::SpeakProtocol(99));
    let bob = User {
        base: relay.base.clone(),
        ..bob
    };
    let started = std::time::Instant::now();
    let output = wait(
        bob.command(&["listen"]).spawn().expect("spawn listen"),
        &["listen"],
    );
    let (_, stderr) = texts(&output);
    assert!(!output.status.success(), "listen kept going: {stderr}");
    assert!(
        relay.sockets() >= 2,
        "it was connected once before: {stderr}"
    );
    assert!(
        stderr.contains("speaks protocol versions 1–3")
            && stderr.contains("please upgrade the server")
            && stderr.contains("unsupported_protocol"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it gave up only after {:?}, retrying what cannot work",
        started.elapsed()
    );
}
