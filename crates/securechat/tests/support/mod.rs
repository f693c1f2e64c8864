//! What the command-line tests share: a real server in this process on a random port (its
//! SQLite file reachable, for tests that play a malicious server; or on PostgreSQL, started
//! again on the data folder of a stopped one), and the built `securechat` binary driven as a
//! user would, one config folder per user.
#![allow(dead_code)] // each test file uses its own part

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use securechat_server::blobs::Blobs;
use securechat_server::{setup, AppState, Settings};
use securechat_store::Store;
use securechat_store_postgres::{PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;
use securechat_store_tests::{backend_under_test, Backend as TestBackend, TestDatabase};

pub const PASSWORD: &str = "correct horse battery staple";
pub const PASSPHRASE: &str = "a long key-file passphrase";
/// Longest any one command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// A server on 127.0.0.1 with its own data folder; stops when dropped (or by `stop`, which
/// keeps the folder).
pub struct Server {
    pub base: String,
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
    data: TempDir,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// The PostgreSQL test database of a server started on the backend under test; dropped
    /// (and the database with it) after the runtime has stopped the server.
    database: Option<TestDatabase>,
}

/// The database a server keeps its store in.
pub enum Backend {
    /// `securechat.db` in the data folder.
    Sqlite,
    /// The PostgreSQL database at this URL.
    Postgres(String),
}

pub fn start_server() -> Server {
    start_server_with(|_| {})
}

/// A server whose settings `adjust` changes first, on the backend `SECURECHAT_TEST_BACKEND`
/// names (SQLite by default).
pub fn start_server_with(adjust: impl FnOnce(&mut Settings) + Send + 'static) -> Server {
    let data = tempfile::tempdir().expect("data dir");
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    match backend_under_test() {
        TestBackend::Sqlite => launch(data, any_port, Backend::Sqlite, adjust),
        TestBackend::Postgres => {
            let database = tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(TestDatabase::new(TestBackend::Postgres))
                .expect("a PostgreSQL test database");
            let mut server = launch(data, any_port, Backend::Postgres(database.url()), adjust);
            server.database = Some(database);
            server
        }
    }
}

/// A server on SQLite whatever the backend under test (tests that reach into its file).
pub fn start_sqlite_server() -> Server {
    let data = tempfile::tempdir().expect("data dir");
    launch(
        data,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Backend::Sqlite,
        |_| {},
    )
}

/// A server on `addr` (the address of one stopped before, so the users' profiles still
/// point at it) with the data folder `data` (its token secret and file blobs) and its store
/// in `backend`.
pub fn start_server_on(data: TempDir, addr: SocketAddr, backend: Backend) -> Server {
    launch(data, addr, backend, |_| {})
}

fn launch(
    data: TempDir,
    addr: SocketAddr,
    backend: Backend,
    adjust: impl FnOnce(&mut Settings) + Send + 'static,
) -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = data.path().to_owned();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let (addr, task) = runtime.block_on(async move {
        // Every client runs from 127.0.0.1: exempt loopback from the IP rule, as the API
        // tests do.
        let mut settings = Settings::new(dir.clone());
        settings.ip_rule.allow = vec!["127.0.0.0/8".parse().expect("cidr")];
        settings.registration = securechat_server::settings::RegistrationMode::Open;
        adjust(&mut settings);
        setup::prepare_data_dir(&dir).expect("prepare data dir");
        let secret = setup::token_secret(&dir, None).expect("token secret");
        let store: Arc<dyn Store> = match backend {
            Backend::Sqlite => Arc::new(
                SqliteStore::open(&dir.join("securechat.db"))
                    .await
                    .expect("store"),
            ),
            Backend::Postgres(url) => Arc::new(
                PostgresStore::connect(&url, PostgresOptions::default())
                    .await
                    .expect("postgres store"),
            ),
        };
        let blobs = Blobs::open(&dir).expect("file store");
        let state = AppState::new(settings, store, blobs, &secret);
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(securechat_server::serve(listener, state, None, async {
            let _ = stopped.await;
        }));
        (addr, task)
    });
    Server {
        base: format!("http://{addr}"),
        addr,
        runtime,
        data,
        shutdown,
        task,
        database: None,
    }
}

impl Server {
    /// Runs a future on the server's runtime (for the tests' own database access).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The options that point `securechat admin …` at this server's data folder and
    /// database.
    pub fn admin_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.data.path().display().to_string(),
        ];
        if let Some(database) = &self.database {
            args.extend(["--database-url".to_owned(), database.url()]);
        }
        args
    }

    /// Shuts the server down as SIGTERM would (its store closed); returns its data folder and
    /// address, to start another server there.
    pub fn stop(self) -> (TempDir, SocketAddr) {
        let _ = self.shutdown.send(());
        self.runtime
            .block_on(self.task)
            .expect("server task")
            .expect("server ran");
        (self.data, self.addr)
    }

    /// A connection pool of its own to the server's SQLite database, for a test that plays
    /// a malicious (or broken) server and changes what it stores.
    pub fn database(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(self.data.path().join("securechat.db"))
            .busy_timeout(Duration::from_secs(10));
        self.block_on(SqlitePool::connect_with(options))
            .expect("open the server's database")
    }
}

/// One person with their own config folder (one device).
pub struct User {
    pub name: &'static str,
    pub base: String,
    pub config: TempDir,
}

impl User {
    pub fn new(server: &Server, name: &'static str) -> Self {
        Self {
            name,
            base: server.base.clone(),
            config: tempfile::tempdir().expect("config dir"),
        }
    }

    pub fn dir(&self) -> &Path {
        self.config.path()
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.dir().join("profiles").join("default")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_securechat"));
        command
            .args(args)
            .env("SECURECHAT_SERVER", &self.base)
            .env("SECURECHAT_CONFIG_DIR", self.dir())
            .env_remove("SECURECHAT_PROFILE")
            .env_remove("SECURECHAT_CA_CERT")
            .env_remove("SECURECHAT_PASSWORD")
            .env_remove("SECURECHAT_KEY_PASSPHRASE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs a command to its end with `stdin` as its input.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self.command(args).spawn().expect("spawn securechat");
        let mut input = child.stdin.take().expect("stdin");
        // A command that ends before reading its input closes the pipe; its output and exit
        // status (checked by the caller) then say why, so a broken pipe is not the failure.
        if let Err(e) = input.write_all(stdin.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
        drop(input);
        wait(child, args)
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin);
        let (stdout, stderr) = texts(&output);
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
            self.name,
            output.status
        );
        stdout
    }

    /// Runs a command that must fail; returns its standard error.
    pub fn fails(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin);
        let (stdout, stderr) = texts(&output);
        assert!(
            !output.status.success(),
            "{} {args:?} should have failed\nstdout: {stdout}\nstderr: {stderr}",
            self.name
        );
        stderr
    }

    pub fn register(&self) {
        let email = format!("{}@example.org", self.name);
        let out = self.ok(
            &[
                "register",
                "--username",
                self.name,
                "--email",
                &email,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        assert!(
            out.contains(&format!("Logged in as {}", self.name)),
            "{out}"
        );
    }

    /// `listen --once --json`: everything since the last run, as JSON objects.
    pub fn listen_once(&self) -> Vec<Value> {
        let out = self.ok(&["listen", "--once", "--json"], "");
        let events = json_lines(&out);
        assert_eq!(
            events.last().map(|e| e["type"].clone()),
            Some(Value::from("caught_up")),
            "listen --once ends with caught_up: {out}"
        );
        events
    }
}

pub fn texts(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits for a child to exit (reading its output meanwhile), killing it after the timeout.
pub fn wait(mut child: Child, args: &[&str]) -> Output {
    fn drain(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("securechat {args:?} did not finish within {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Sends a browser's WebSocket upgrade request with these `Host` and `Origin` headers to
/// `addr` (a server or a proxy in front of one); returns the status (101 when it opens).
pub fn websocket_upgrade_status(addr: SocketAddr, host: &str, origin: &str) -> u16 {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).expect("status line");
    String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("a status")
}

/// A login over HTTP as a current client makes it (OPAQUE, docs/PROTOCOL.md §18.3), with
/// `headers` on both requests: the status and body of the token endpoint's answer, or of the
/// start when that refused. A password that does not open the server's answer gives
/// `400 invalid_grant`, as a client would report it (nothing is sent then).
pub async fn opaque_token(
    base: &str,
    login: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let (login_id, finalization) = match opaque_start(base, login, password, headers).await {
        Ok(proof) => proof,
        Err(answer) => return answer,
    };
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&opaque_grant(&login_id, &finalization));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// The OPAQUE grant's body (`login_id` and `credential_finalization`).
pub fn opaque_grant(login_id: &str, finalization: &str) -> Value {
    serde_json::json!({
        "grant_type": securechat_proto::auth::OPAQUE_GRANT,
        "login_id": login_id,
        "credential_finalization": finalization,
    })
}

/// An OPAQUE login's first step and the client's finish: the `login_id` and the
/// finalization to send, or the answer to report.
pub async fn opaque_start(
    base: &str,
    login: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Result<(String, String), (u16, Value)> {
    use securechat_opaque::client;
    use securechat_proto::b64;
    let mut rng = rand::rngs::OsRng;
    let started = client::login_start(&mut rng, password.as_bytes()).expect("KE1");
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/opaque/login/start"))
        .json(&serde_json::json!({
            "username": login,
            "credential_request": b64::encode(&started.message),
        }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("login start");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON answer");
    if status != 200 {
        return Err((status, body));
    }
    let answer =
        b64::decode(body["credential_response"].as_str().expect("response")).expect("base64url");
    match client::login_finish(&mut rng, &started.state, password.as_bytes(), &answer) {
        Ok(finalization) => Ok((
            body["login_id"].as_str().expect("login_id").to_owned(),
            b64::encode(finalization),
        )),
        Err(_) => Err((
            400,
            serde_json::json!({"error": "invalid_grant", "error_description": "wrong username or password"}),
        )),
    }
}
