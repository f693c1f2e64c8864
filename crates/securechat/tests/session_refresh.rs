//! Several CLI processes of one profile refreshing its session at once (issue 9, item 3):
//! refresh tokens rotate and the server revokes a session whose rotated token comes back, so
//! the processes must take turns and each use the token the last one stored.

mod support;

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::*;

/// Access tokens this short are refreshed before every request (the client refreshes with
/// less than a minute left), and `listen` re-authenticates its socket every 5 s.
const ACCESS_TTL: Duration = Duration::from_secs(20);
/// How long the processes keep refreshing together.
const RUN_FOR: Duration = Duration::from_secs(16);

#[test]
fn listen_and_other_commands_refreshing_together_keep_the_session() {
    let server = start_server_with(|settings| settings.access_ttl = ACCESS_TTL);
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    // Bob listens (refreshing to re-authenticate its socket every few seconds) ...
    let mut listen = bob
        .command(&["listen", "--json"])
        .spawn()
        .expect("spawn listen");
    let stdout = listen.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("listen starts");
    let first: Value = serde_json::from_str(&first).expect("json");
    assert_eq!(first["type"], "caught_up");

    // ... while two more of his commands at a time refresh the same session, and Alice
    // writes to him.
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < RUN_FOR {
        rounds += 1;
        let both: Vec<_> = (0..2)
            .map(|_| {
                bob.command(&["users", "--json"])
                    .spawn()
                    .expect("spawn users")
            })
            .collect();
        for child in both {
            let output = wait(child, &["users"]);
            let (out, err) = texts(&output);
            assert!(
                output.status.success(),
                "round {rounds}: bob's `users` failed: {err}{out}"
            );
        }
        alice.ok(&["send", "--to", "bob", &format!("round {rounds}")], "");
        if let Ok(Some(status)) = listen.try_wait() {
            let output = wait(listen, &["listen"]);
            panic!(
                "round {rounds}: bob's listen ended ({status}): {}",
                texts(&output).1
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    // Every message arrived live, and the session still works.
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while received < rounds {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        let event: Value = serde_json::from_str(&line).expect("json");
        if event["type"] == "message" {
            received += 1;
        }
    }
    let still_running = listen.try_wait().expect("try_wait").is_none();
    let _ = listen.kill();
    let output = wait(listen, &["listen"]);
    let _ = reader.join();
    assert!(still_running, "bob's listen ended: {}", texts(&output).1);
    assert_eq!(received, rounds, "{}", texts(&output).1);
    bob.ok(&["users"], "");
    let events = bob.listen_once();
    assert_eq!(
        events.last().map(|e| e["type"].clone()),
        Some("caught_up".into())
    );
}
