//! A private PostgreSQL server for tests that stop and start the database under a running
//! server (outage tests): `initdb` and `pg_ctl` on a free loopback port, in a temporary
//! folder that goes away with it. The shared server of `TestDatabase` is never stopped.
//!
//! PostgreSQL refuses to run as root; as root the programs run as the `postgres` user (with
//! `runuser`), which then owns the folder.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Env variable naming the folder of PostgreSQL's server programs (`initdb`, `pg_ctl`);
/// by default the newest `/usr/lib/postgresql/*/bin`, else the `PATH`.
pub const PG_BIN_ENV: &str = "SECURECHAT_TEST_PG_BIN";

/// How `PgCluster::stop` stops the server (`pg_ctl stop -m …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Ends the connections and shuts down cleanly (a planned restart).
    Fast,
    /// Kills the server without a shutdown checkpoint (a crash: the next start recovers).
    Immediate,
}

impl StopMode {
    fn as_arg(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Immediate => "immediate",
        }
    }
}

/// A PostgreSQL server of one test (user `postgres`, trust auth, database `postgres`),
/// stopped and removed when dropped.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The user the programs run as, when not this process's own.
    run_as: Option<String>,
}

impl PgCluster {
    /// Creates and starts a server; `None` when PostgreSQL's server programs are not
    /// installed.
    ///
    /// # Panics
    /// When they are installed but the server cannot be created or started (the output of
    /// the failing program is in the message).
    pub fn start() -> Option<Self> {
        let bin = server_programs()?;
        let run_as = running_as_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("securechat-pg-")
            .tempdir()
            .expect("a temporary folder for PostgreSQL");
        if let Some(user) = &run_as {
            let (uid, gid) = user_ids(user)
                .unwrap_or_else(|| panic!("running as root, and there is no `{user}` user"));
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("hand the folder to the postgres user");
        }
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a free port on loopback");
        let port = listener.local_addr().expect("its address").port();
        drop(listener);
        let cluster = Self {
            dir,
            bin,
            port,
            run_as,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
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

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server.
    ///
    /// # Panics
    /// When `pg_ctl` fails.
    pub fn stop(&self, mode: StopMode) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", mode.as_arg(), "-w", "stop"]);
    }

    /// Starts the stopped server again (recovering after an immediate stop), and waits until
    /// it accepts connections.
    ///
    /// # Panics
    /// When it does not start.
    pub fn start_again(&self) {
        let data = self.data();
        let log = self.path("server.log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn data(&self) -> String {
        self.path("data")
    }

    /// Runs one of the server programs (as the postgres user when needed).
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
        if !output.status.success() {
            let log = std::fs::read_to_string(self.path("server.log")).unwrap_or_default();
            panic!(
                "{program} {args:?} failed: {}\n{}{}\nserver log:\n{log}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
        output
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(self.bin.join("pg_ctl"));
                c
            }
            None => Command::new(self.bin.join("pg_ctl")),
        };
        // Already stopped is fine; the folder goes with `dir`.
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .current_dir(self.dir.path())
            .output();
    }
}

/// The folder holding `initdb` and `pg_ctl`.
fn server_programs() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).map(PathBuf::from) {
        return has_both(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| has_both(dir))
}

/// Whether this process runs as root (the owner of its own `/proc` entry).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A user's uid and gid, from `/etc/passwd`.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != user {
            return None;
        }
        let _password = fields.next()?;
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}
