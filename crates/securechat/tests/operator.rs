//! What an operator sees of the binary itself: its version, plain logs when not on a
//! terminal, a `build_info` metric, and a data folder only one server may use.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use securechat_store_tests::services::http_get;

fn securechat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_securechat"));
    command
        .env_remove("SECURECHAT_CONFIG")
        .env_remove("SECURECHAT_DATABASE_URL")
        .env_remove("SECURECHAT_REDIS_URL")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info");
    command
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A server on `data`, its log lines arriving on the receiver.
fn serve(data: &std::path::Path) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let addr = free_addr();
    let mut child = securechat()
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let (tx, rx) = mpsc::channel();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    (child, addr, rx)
}

/// Lines until one contains `needle`, or `None` after `patience`.
fn wait_for_line(
    rx: &mpsc::Receiver<String>,
    needle: &str,
    patience: Duration,
) -> (Vec<String>, bool) {
    let started = Instant::now();
    let mut lines = Vec::new();
    while let Some(left) = patience.checked_sub(started.elapsed()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                lines.push(line);
                if found {
                    return (lines, true);
                }
            }
            Err(_) => break,
        }
    }
    (lines, false)
}

#[test]
fn the_version_is_printed() {
    let output = securechat()
        .arg("--version")
        .output()
        .expect("run --version");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert_eq!(
        text.trim(),
        format!("securechat {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn logs_are_plain_off_a_terminal_and_name_the_version_and_a_second_server_on_the_folder_refuses() {
    let data = tempfile::tempdir().expect("a data folder");
    let (mut first, addr, lines) = serve(data.path());
    let (seen, listening) = wait_for_line(&lines, "listening on", Duration::from_secs(30));
    assert!(listening, "the server did not start: {seen:#?}");
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a log that is not a terminal: {seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("securechat starting") && l.contains(env!("CARGO_PKG_VERSION"))),
        "no start-up line with the version: {seen:#?}"
    );
    let (_, metrics) = http_get(addr, "/metrics").expect("/metrics answers");
    assert!(
        metrics.contains(&format!(
            "securechat_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "no build_info metric"
    );

    // A second server on the same data folder refuses, naming the holder.
    let output = securechat()
        .args(["serve", "--listen", &free_addr().to_string(), "--data-dir"])
        .arg(data.path())
        .output()
        .expect("run a second server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "a second server started on the folder: {text}"
    );
    assert!(
        text.contains("is in use by another securechat process")
            && text.contains(&format!("pid {}", first.id())),
        "the refusal does not say who holds the folder: {text}"
    );

    // Once the first is gone (killed, even), the folder is free again.
    first.kill().expect("kill the first server");
    first.wait().expect("wait for it");
    let (mut again, _, lines) = serve(data.path());
    let (seen, listening) = wait_for_line(&lines, "listening on", Duration::from_secs(30));
    assert!(
        listening,
        "the folder stayed locked after the holder died: {seen:#?}"
    );
    again.kill().expect("kill");
    let _ = again.wait();
}
