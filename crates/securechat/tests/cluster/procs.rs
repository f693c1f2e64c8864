//! The securechat nodes of a cluster test, run from the built binary on 127.0.0.x ports
//! (Redis and moto come from `securechat_store_tests::services`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use securechat_store_tests::services::{free_port, http_get, MotoServer, RedisServer};

/// Whether `program` can be run.
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The node options that put files in `bucket` on `moto`.
pub fn s3_options(moto: &MotoServer, bucket: &str) -> Vec<String> {
    [
        "--files-url",
        &format!("s3://{bucket}/files"),
        "--s3-endpoint",
        &moto.endpoint,
        "--s3-allow-http",
        "true",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// How to start every node of one cluster.
#[derive(Clone)]
pub struct NodeConfig {
    pub database_url: String,
    pub redis_url: String,
    pub token_secret: String,
    pub extra: Vec<String>,
}

/// The command that starts a node listening on `addr` with its data in `data`.
pub fn node_command(addr: SocketAddr, data: &Path, config: &NodeConfig) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_securechat"));
    command
        .arg("serve")
        .args(["--listen", &addr.to_string()])
        .args(["--data-dir", &data.display().to_string()])
        .args(["--registration", "open"])
        .args(["--database-url", &config.database_url])
        .args(["--redis-url", &config.redis_url])
        .args(["--token-secret", &config.token_secret])
        .args(["--ip-rule", "false"])
        .args(["--registrations-per-ip", "1000"])
        .args(["--hash-concurrency", "2"])
        .args(&config.extra)
        .env("RUST_LOG", "info,securechat=info")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .stdin(Stdio::null());
    command
}

/// One securechat process.
pub struct Node {
    pub addr: SocketAddr,
    pub base: String,
    config: NodeConfig,
    data: TempDir,
    child: Option<Child>,
    log: PathBuf,
}

impl Node {
    /// Starts a node on 127.0.0.`n` and waits until it is ready.
    pub fn start(n: u8, config: &NodeConfig) -> Self {
        let addr = free_port([127, 0, 0, n]);
        let data = tempfile::tempdir().expect("a data folder");
        let log = data.path().join("node.log");
        let mut node = Self {
            addr,
            base: format!("http://{addr}"),
            config: config.clone(),
            data,
            child: None,
            log,
        };
        node.start_again();
        node
    }

    /// The command that starts this node.
    fn command(&self) -> Command {
        node_command(self.addr, self.data.path(), &self.config)
    }

    /// Starts the process (again) and waits for `/readyz`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the node runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the node's log");
        let child = self
            .command()
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start a node");
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30));
    }

    fn wait_ready(&mut self, patience: Duration) {
        let started = Instant::now();
        loop {
            if http_get(self.addr, "/readyz").is_some_and(|(status, _)| status == 200) {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("node {} exited ({status}):\n{}", self.addr, self.log_text());
                }
            }
            assert!(
                started.elapsed() < patience,
                "node {} not ready after {patience:?}:\n{}",
                self.addr,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process as `systemctl stop` would: SIGTERM, then SIGKILL if it has not
    /// ended within `patience`. How long it took to end.
    pub fn stop(&mut self, patience: Duration) -> Duration {
        let started = Instant::now();
        let Some(mut child) = self.child.take() else {
            return Duration::ZERO;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while matches!(child.try_wait(), Ok(None)) {
            if started.elapsed() > patience {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
        started.elapsed()
    }

    /// Restarts the node on the database at `database_url` (the operator's step after a
    /// failover: a new `--database-url`, then `systemctl restart`, which sends SIGKILL when
    /// the process has not ended after `patience`), and waits for `/readyz`. How long the
    /// old process took to stop.
    pub fn restart_on(&mut self, database_url: &str, patience: Duration) -> Duration {
        let stopping = self.stop(patience);
        self.config.database_url = database_url.to_owned();
        self.start_again();
        stopping
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A metric's value from `/metrics` (the sum of its series), 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        let text = http_get(self.addr, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
