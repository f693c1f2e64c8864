//! The real `securechat` binary as an operator runs it: `securechat serve` in a process of its
//! own on a free loopback port, its log lines (standard output and error) arriving on a
//! channel, so that tests can read what an operator would read and send it signals.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary, with the environment of the test run cleared of what would change it.
pub fn securechat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_securechat"));
    command
        .env_remove("SECURECHAT_CONFIG")
        .env_remove("SECURECHAT_DATABASE_URL")
        .env_remove("SECURECHAT_REDIS_URL")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info");
    command
}

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A server on `data`, its log lines arriving on the receiver.
pub fn serve(data: &Path) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    serve_with(data, |_| {})
}

/// A server on `data` whose command `adjust` completes (more options, environment).
pub fn serve_with(
    data: &Path,
    adjust: impl FnOnce(&mut Command),
) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let addr = free_addr();
    let mut command = securechat();
    command
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    adjust(&mut command);
    let mut child = command.spawn().expect("start the server");
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

/// Lines until one contains `needle` (`true`), or all that came within `patience` (`false`).
pub fn wait_for_line(
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

/// A running `securechat serve`, killed when dropped (a failing test leaves no server behind).
pub struct Served {
    pub addr: SocketAddr,
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

impl Served {
    /// Starts a server on `data` (with `adjust`'s options) and waits until it listens.
    pub fn start(data: &Path, adjust: impl FnOnce(&mut Command)) -> Self {
        let (child, addr, lines) = serve_with(data, adjust);
        let mut served = Self {
            addr,
            child,
            lines,
            log: Vec::new(),
        };
        assert!(
            served.wait_for("listening on", Duration::from_secs(60)),
            "the server did not start:\n{}",
            served.log.join("\n")
        );
        served
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads log lines until one contains `needle`; whether one did within `patience`.
    pub fn wait_for(&mut self, needle: &str, patience: Duration) -> bool {
        let (lines, found) = wait_for_line(&self.lines, needle, patience);
        self.log.extend(lines);
        found
    }

    /// The log so far, one string (for assertion messages).
    pub fn log_text(&self) -> String {
        self.log.join("\n")
    }

    /// Sends a signal (`HUP`, `TERM`, …) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
