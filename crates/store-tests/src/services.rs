//! Servers a test starts on its own free loopback port and stops when dropped: Redis (for
//! tests that stop it, or that want channels of their own) and moto's S3 server (for file
//! storage). Each answers `None` with one printed line when the program is not installed,
//! except under CI (`CI` set), where that fails the test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free on `ip` right now.
///
/// # Panics
/// When no port can be bound.
pub fn free_port(ip: [u8; 4]) -> SocketAddr {
    TcpListener::bind(SocketAddr::from((ip, 0)))
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Waits until something accepts connections on `addr`.
///
/// # Panics
/// After `patience`.
pub fn wait_for_port(addr: SocketAddr, patience: Duration) {
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < patience,
            "nothing listens on {addr} after {patience:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain HTTP/1.0 request without a body (no client library, so it works outside an async
/// runtime): status and body, `None` when nothing answers.
pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// `GET path` (see `http_request`).
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http_request(addr, "GET", path)
}

/// Starts `command`, or says in one line that `what` is skipped (fails under CI).
fn spawn_or_skip(command: Command, program: &str, what: &str) -> Option<Child> {
    spawn_or_skip_to(command, Stdio::null(), program, what)
}

/// `spawn_or_skip` with the child's standard output going to `stdout`.
fn spawn_or_skip_to(
    mut command: Command,
    stdout: Stdio,
    program: &str,
    what: &str,
) -> Option<Child> {
    match command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => Some(child),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{program} cannot run ({e}), and CI is set: {what} must run"
            );
            eprintln!("{program} not installed: {what} skipped");
            None
        }
    }
}

/// A redis-server of the test's own, keeping nothing on disk; it can be stopped and started
/// again (empty) on the same port.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// `what` names the tests that need it, for the skip line.
    pub fn start(what: &str) -> Option<Self> {
        let port = free_port([127, 0, 0, 1]).port();
        let child = spawn_or_skip(Self::command(port), "redis-server", what)?;
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(10),
        );
        Some(Self {
            port,
            child: Some(child),
        })
    }

    fn command(port: u16) -> Command {
        let mut command = Command::new("redis-server");
        command.args(["--port", &port.to_string()]).args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        command
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it again, empty, on the same port.
    ///
    /// # Panics
    /// When it runs already, or does not start.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Redis is running already");
        let child = Self::command(self.port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server again");
        self.child = Some(child);
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(10),
        );
    }

    /// Kills it (its data goes with it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto's S3 server (`moto_server`, or `SECURECHAT_TEST_MOTO_SERVER`).
pub struct MotoServer {
    pub addr: SocketAddr,
    pub endpoint: String,
    child: Child,
}

impl MotoServer {
    /// The program run.
    pub fn program() -> String {
        std::env::var("SECURECHAT_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned())
    }

    /// `what` names the tests that need it, for the skip line.
    pub fn start(what: &str) -> Option<Self> {
        let program = Self::program();
        let addr = free_port([127, 0, 0, 1]);
        let mut command = Command::new(&program);
        command.args(["-H", "127.0.0.1", "-p", &addr.port().to_string()]);
        let child = spawn_or_skip(command, &program, what)?;
        wait_for_port(addr, Duration::from_secs(60));
        Some(Self {
            addr,
            endpoint: format!("http://{addr}"),
            child,
        })
    }

    /// Creates a bucket.
    ///
    /// # Panics
    /// When moto refuses.
    pub fn create_bucket(&self, bucket: &str) {
        let created = http_request(self.addr, "PUT", &format!("/{bucket}"));
        assert!(
            created.as_ref().is_some_and(|(status, _)| *status == 200),
            "moto did not create the bucket: {created:?}"
        );
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd's SMTP server (`aiosmtpd`, or `SECURECHAT_TEST_AIOSMTPD`), printing every message
/// it receives; the tests read the mail a server sent from that output.
pub struct SmtpServer {
    pub addr: SocketAddr,
    output: tempfile::NamedTempFile,
    child: Child,
}

impl SmtpServer {
    /// The program run.
    pub fn program() -> String {
        std::env::var("SECURECHAT_TEST_AIOSMTPD").unwrap_or_else(|_| "aiosmtpd".to_owned())
    }

    /// `what` names the tests that need it, for the skip line.
    ///
    /// # Panics
    /// When the output file cannot be made.
    pub fn start(what: &str) -> Option<Self> {
        let program = Self::program();
        let addr = free_port([127, 0, 0, 1]);
        let output = tempfile::NamedTempFile::new().expect("smtp output file");
        let stdout = output.reopen().expect("smtp output file");
        let mut command = Command::new(&program);
        // Python buffers a file's output: unbuffered, each message is readable at once.
        command
            .args(["-n", "-l", &addr.to_string()])
            .env("PYTHONUNBUFFERED", "1");
        let child = spawn_or_skip_to(command, Stdio::from(stdout), &program, what)?;
        wait_for_port(addr, Duration::from_secs(30));
        Some(Self {
            addr,
            output,
            child,
        })
    }

    /// Everything received so far, as aiosmtpd printed it (headers and bodies).
    pub fn received(&self) -> String {
        std::fs::read_to_string(self.output.path()).unwrap_or_default()
    }

    /// Waits up to `patience` for the received mail to contain `needle`; returns all of it.
    ///
    /// # Panics
    /// When it does not come.
    pub fn wait_for(&self, needle: &str, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let text = self.received();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no mail containing {needle:?} within {patience:?}; received: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
