//! A load-balanced deployment on loopback: a real nginx (with the operators' proxy snippet,
//! deploy/nginx/securechat-proxy.conf) in front of two `securechat serve` processes that share
//! one fresh PostgreSQL database and one token secret.
//!
//! Uploaded files live in `<data-dir>/files` of the node that took the upload; as
//! deploy/README.md tells operators, the nodes share that folder (here a symlink to one temporary
//! folder), or a download reaching the other node finds nothing.
//!
//! nginx connects to the nodes from 127.0.0.2 (`proxy_bind`) while clients connect to nginx
//! from 127.0.0.1, and the nodes trust only 127.0.0.2 as a proxy: so an address the nodes
//! record as 127.0.0.1 can only have come from the forwarding headers.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use securechat_store_tests::services::RedisServer;
use securechat_store_tests::{postgres_or_skip, Backend as TestBackend, TestDatabase};

/// Where nginx connects to the nodes from (the only address they trust as a proxy).
pub const PROXY_SOURCE: &str = "127.0.0.2";
/// Where the clients (and so the forwarded address) come from.
pub const CLIENT_ADDRESS: &str = "127.0.0.1";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The proxy snippet operators include, as shipped.
const PROXY_SNIPPET: &str = include_str!("../../../../deploy/nginx/securechat-proxy.conf");

/// nginx: `SECURECHAT_TEST_NGINX` (when it names a file), else `nginx` on the PATH or in the
/// sbin folders (Debian installs it in /usr/sbin, which a user's PATH may lack).
fn find_nginx() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SECURECHAT_TEST_NGINX") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// nginx, when the test can run: `None` (after one line on standard error) when nginx or
/// PostgreSQL is missing; under CI (`CI` set) either missing fails the test.
pub fn nginx_or_skip(runtime: &tokio::runtime::Runtime) -> Option<PathBuf> {
    static TOLD: std::sync::Once = std::sync::Once::new();
    let Some(nginx) = find_nginx() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed (Debian package `nginx`), and CI is set: the load-balancer \
             tests must run"
        );
        TOLD.call_once(|| {
            // Straight to the stream: the harness captures `println!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "nginx not installed (set SECURECHAT_TEST_NGINX or install Debian's `nginx`): \
                 skipped the load-balancer tests"
            );
        });
        return None;
    };
    runtime.block_on(postgres_or_skip()).then_some(nginx)
}

/// A port free on 127.0.0.1 at the time of asking.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A plain HTTP/1.1 GET; `None` when nothing answers. Returns the status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n"),
        "",
    )
}

/// Sends `head` (request line and headers, each ending in CRLF) with `body`, on a connection
/// of its own; returns the status and body.
pub fn http_request(addr: SocketAddr, head: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    let request = format!(
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// One `securechat serve` process; killed when dropped.
pub struct Node {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
    _data: TempDir,
}

impl Node {
    fn start(database_url: &str, redis_url: &str, token_secret: &str, files: &Path) -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let data_dir = data.path().join("data");
        std::fs::create_dir(&data_dir).expect("data dir");
        std::os::unix::fs::symlink(files, data_dir.join("files")).expect("shared files folder");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = data.path().join("node.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_securechat"))
            .arg("serve")
            .args(["--listen", &addr.to_string()])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--registration", "open"])
            .args(["--trusted-proxies", &format!("{PROXY_SOURCE}/32")])
            // Every client is on loopback: exempt it from the IP rule, as the other tests do.
            .args(["--ip-allow", "127.0.0.0/8"])
            // Secrets and the database URL stay off the command line.
            .env("SECURECHAT_DATABASE_URL", database_url)
            .env("SECURECHAT_TOKEN_SECRET", token_secret)
            .env("SECURECHAT_REDIS_URL", redis_url)
            .env("RUST_LOG", "info")
            .env_remove("SECURECHAT_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn securechat serve");
        Self {
            addr,
            child,
            log,
            _data: data,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its log so far, without the terminal colours.
    pub fn log(&self) -> String {
        strip_colours(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// The sum of a metric's series (0 when absent).
    pub fn metric(&self, name: &str) -> f64 {
        let Some((200, text)) = http_get(self.addr, "/metrics") else {
            panic!("no metrics from {}:\n{}", self.addr, self.log());
        };
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("node {} exited ({status}):\n{}", self.addr, self.log());
            }
            if let Some((200, _)) = http_get(self.addr, "/readyz") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("node {} not ready in time:\n{}", self.addr, self.log());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx running the proxy snippet in front of the nodes; stopped when dropped.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    dir: TempDir,
}

impl Nginx {
    fn start(binary: &Path, nodes: &[&Node]) -> Self {
        let dir = tempfile::tempdir().expect("nginx dir");
        let prefix = dir.path();
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        std::fs::write(prefix.join("securechat-proxy.conf"), PROXY_SNIPPET).expect("snippet");
        let upstreams: String = nodes
            .iter()
            .map(|n| format!("        server {};\n", n.addr))
            .collect();
        let p = prefix.display();
        // The http {} part operators have in securechat.conf, without TLS; every temporary
        // path in the test's folder (nginx runs unprivileged here).
        let conf = format!(
            "worker_processes 1;
master_process off;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    log_format upstream '$remote_addr $request_method $uri $status upstream=$upstream_addr';
    access_log {p}/access.log upstream;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}
    upstream securechat_nodes {{
{upstreams}        keepalive 8;
    }}
    server {{
        listen {addr};
        proxy_bind {PROXY_SOURCE};
        include {p}/securechat-proxy.conf;
    }}
}}
"
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf");
        let err = std::fs::File::create(prefix.join("error.log")).expect("error log");
        let child = Command::new(binary)
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&conf_path)
            .arg("-g")
            .arg(format!("daemon off; pid {p}/nginx.pid; error_log stderr;"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Self { addr, child, dir };
        nginx.wait_ready();
        nginx
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// nginx's access log: one line per request, naming the node that answered.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.error_log());
            }
            if let Some((200, _)) = http_get(self.addr, "/readyz") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nginx not ready in time:\n{}", self.error_log());
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes of a cluster (one fresh PostgreSQL database, one Redis) behind nginx.
pub struct Balanced {
    pub nginx: Nginx,
    pub nodes: [Node; 2],
    pub runtime: tokio::runtime::Runtime,
    pub database: TestDatabase,
    _redis: RedisServer,
    _files: TempDir,
}

impl Balanced {
    /// Starts it all, or `None` when nginx or PostgreSQL is missing (see `nginx_or_skip`).
    pub fn start() -> Option<Self> {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let nginx = nginx_or_skip(&runtime)?;
        let redis = RedisServer::start("the nginx tests")?;
        let database = runtime
            .block_on(TestDatabase::new(TestBackend::Postgres))
            .expect("a PostgreSQL test database");
        let secret = format!("{:064x}", rand_u128() ^ 0x5ec0_c4a7);
        let files = tempfile::tempdir().expect("shared files folder");
        let mut nodes = [
            Node::start(&database.url(), &redis.url(), &secret, files.path()),
            Node::start(&database.url(), &redis.url(), &secret, files.path()),
        ];
        for node in &mut nodes {
            node.wait_ready();
        }
        let nginx = Nginx::start(&nginx, &[&nodes[0], &nodes[1]]);
        Some(Self {
            nginx,
            nodes,
            runtime,
            database,
            _redis: redis,
            _files: files,
        })
    }

    /// What the nodes' sessions recorded as the client address, one per session.
    pub fn session_addresses(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&self.database.url())
                .await
                .expect("connect to the test database");
            sqlx::query_scalar("SELECT ip FROM sessions ORDER BY created_at")
                .fetch_all(&mut db)
                .await
                .expect("sessions")
        })
    }
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A random-enough number for a test secret (the clock's nanoseconds and the process id).
fn rand_u128() -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    nanos ^ (u128::from(std::process::id()) << 64)
}
