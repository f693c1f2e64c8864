//! A private PostgreSQL server a test may stop, kill and start again: `initdb` + `pg_ctl`
//! from the installed PostgreSQL, on a free loopback port, in a temporary folder.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Where Debian's PostgreSQL server programs are (`initdb` is not on the PATH there).
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SECURECHAT_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A PostgreSQL cluster of its own, stopped (immediately) and deleted when dropped.
pub struct PgCluster {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: then every command runs as `postgres`.
    run_as_postgres: bool,
}

impl PgCluster {
    /// Creates and starts a cluster; `None` (with the reason on stderr) when the PostgreSQL
    /// server programs are not installed.
    pub fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            eprintln!("PostgreSQL server programs (initdb, pg_ctl) not installed");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("securechat-pg-")
            .tempdir()
            .expect("a temporary folder for PostgreSQL");
        let run_as_postgres = is_root();
        if run_as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the cluster folder failed");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self {
            dir,
            bin,
            port,
            run_as_postgres,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder the cluster lives in (its data folder is `data` inside).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// One of the server programs, run as `postgres` when this process is root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.current_dir(self.dir.path());
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-l",
                &self.dir.path().join("log").display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server: `fast` disconnects clients and shuts down cleanly; `immediate` is a
    /// crash (no checkpoint; the next start recovers from the WAL).
    pub fn stop(&self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-m",
                mode,
                "-w",
                "stop",
            ],
        );
    }
}

/// How `PgCluster::stop` stops the server.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    Fast,
    Immediate,
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data.display().to_string(), "-m", "immediate", "stop"])
            .output();
    }
}
