//! Several CLI processes of one profile refreshing its session at once (issue 9, item 3):
//! refresh tokens rotate and the server revokes a session whose rotated token comes back, so
//! the processes must take turns and each use the token the last one stored.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Output};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::*;

/// Access tokens this short are refreshed before every request (the client refreshes with
/// less than a minute left), and `listen` re-authenticates its socket every 5 s.
const ACCESS_TTL: Duration = Duration::from_secs(20);
/// How long the processes keep refreshing together.
const RUN_FOR: Duration = Duration::from_secs(16);

/// A `listen --json` running in the background, its lines read as they come.
struct Listener {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: JoinHandle<()>,
}

impl Listener {
    /// Starts `listen` and waits until it has caught up.
    fn start(user: &User) -> Self {
        let mut child = user
            .command(&["listen", "--json"])
            .spawn()
            .expect("spawn listen");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("listen starts");
        let first: Value = serde_json::from_str(&first).expect("json");
        assert_eq!(first["type"], "caught_up");
        Self {
            child,
            lines,
            reader,
        }
    }

    /// Fails the test, with listen's error, if it has ended.
    fn assert_running(&mut self, when: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let stderr = read_stderr(&mut self.child);
            panic!("{when}: listen ended ({status}): {stderr}");
        }
    }

    /// Counts the messages printed, waiting up to 30 s for `want` of them.
    fn messages(&self, want: usize) -> usize {
        let mut received = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while received < want {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let event: Value = serde_json::from_str(&line).expect("json");
            if event["type"] == "message" {
                received += 1;
            }
        }
        received
    }

    /// Stops listen (it was started by this test) and returns its output.
    fn stop(mut self) -> Output {
        let _ = self.child.kill();
        let output = wait(self.child, &["listen"]);
        let _ = self.reader.join();
        output
    }
}

fn read_stderr(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
    }
    text
}

/// Two `users` commands of `user` at once; both must succeed.
fn two_at_once(user: &User, round: usize) {
    let both: Vec<_> = (0..2)
        .map(|_| {
            user.command(&["users", "--json"])
                .spawn()
                .expect("spawn users")
        })
        .collect();
    for child in both {
        let output = wait(child, &["users"]);
        let (out, err) = texts(&output);
        assert!(
            output.status.success(),
            "round {round}: {}'s `users` failed: {err}{out}",
            user.name
        );
    }
}

/// Rounds of `two_at_once` and a message from `from` to `to`, for `RUN_FOR`, while `listen`
/// of `to` runs; returns the number of messages sent.
fn refresh_together(from: &User, to: &User, listen: &mut Listener) -> usize {
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < RUN_FOR {
        rounds += 1;
        two_at_once(to, rounds);
        from.ok(&["send", "--to", to.name, &format!("round {rounds}")], "");
        listen.assert_running(&format!("round {rounds}"));
        std::thread::sleep(Duration::from_millis(500));
    }
    rounds
}

#[test]
fn listen_and_other_commands_refreshing_together_keep_the_session() {
    let server = start_server_with(|settings| settings.access_ttl = ACCESS_TTL);
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    // Bob listens (refreshing to re-authenticate its socket every few seconds) while two
    // more of his commands at a time refresh the same session, and Alice writes to him.
    let mut listen = Listener::start(&bob);
    let rounds = refresh_together(&alice, &bob, &mut listen);

    // Every message arrived live, and the session still works.
    let received = listen.messages(rounds);
    listen.assert_running("at the end");
    let output = listen.stop();
    assert_eq!(received, rounds, "{}", texts(&output).1);
    bob.ok(&["users"], "");
    let events = bob.listen_once();
    assert_eq!(
        events.last().map(|e| e["type"].clone()),
        Some("caught_up".into())
    );
}

#[test]
fn a_new_login_beside_a_running_listen_keeps_both_sessions() {
    let server = start_server_with(|settings| settings.access_ttl = ACCESS_TTL);
    let alice = User::new(&server, "alice");
    let bob = User::new(&server, "bob");
    alice.register();
    bob.register();

    // Bob's listen runs on his first session; he logs in again in the same profile, and
    // his next commands use (and refresh) the new session. listen keeps its own: the new
    // session's tokens are not for its socket, and its refreshes do not overwrite them.
    let mut listen = Listener::start(&bob);
    bob.ok(
        &["login", "--username", "bob", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let rounds = refresh_together(&alice, &bob, &mut listen);
    let received = listen.messages(rounds);
    listen.assert_running("at the end");
    let output = listen.stop();
    assert_eq!(received, rounds, "{}", texts(&output).1);
    bob.ok(&["users"], "");
}
