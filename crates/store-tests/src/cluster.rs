//! A private PostgreSQL server for tests that stop and start the database under a running
//! server (outage tests): `initdb` and `pg_ctl` on a free loopback port, in a temporary
//! folder that goes away with it. The shared server of `TestDatabase` is never stopped.
//!
//! For failover tests, a primary whose commits wait for a synchronous standby
//! (`start_primary`), the standby itself (`start_standby`: `pg_basebackup -R`), a kill as a
//! lost machine's (`kill`) and the standby's promotion (`promote`).
//!
//! PostgreSQL refuses to run as root; as root the programs run as the `postgres` user (with
//! `runuser`), which then owns the folder.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection as _;

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
    /// Whether `kill` ended it (its shared memory is then left behind until a start).
    killed: AtomicBool,
}

impl PgCluster {
    /// Creates and starts a server; `None` when PostgreSQL's server programs are not
    /// installed.
    ///
    /// # Panics
    /// When they are installed but the server cannot be created or started (the output of
    /// the failing program is in the message).
    pub fn start() -> Option<Self> {
        let cluster = Self::empty(server_programs()?);
        cluster.init(&[]);
        cluster.start_again();
        Some(cluster)
    }

    /// Creates and starts a primary for streaming replication whose every commit waits until
    /// the standby named `standby` (its `application_name`) has flushed it to disk
    /// (`synchronous_standby_names`, `synchronous_commit = on`): what it confirmed survives
    /// its loss once that standby is promoted. Until the standby streams, commits wait.
    /// `None` when PostgreSQL's server programs (`pg_basebackup` too) are not installed.
    ///
    /// # Panics
    /// As `start`.
    pub fn start_primary(standby: &str) -> Option<Self> {
        let bin = server_programs()?;
        if !bin.join("pg_basebackup").is_file() {
            return None;
        }
        let cluster = Self::empty(bin);
        cluster.init(&[
            "wal_level = replica".to_owned(),
            "max_wal_senders = 4".to_owned(),
            format!("synchronous_standby_names = '{standby}'"),
            "synchronous_commit = on".to_owned(),
        ]);
        cluster.start_again();
        Some(cluster)
    }

    /// A streaming standby of this primary on a port of its own, named `name` in
    /// replication: `pg_basebackup -R` copies the primary (its settings too) and writes
    /// `standby.signal` and `primary_conninfo` (with `application_name=name`); then it starts.
    ///
    /// # Panics
    /// When the copy or the start fails.
    pub fn start_standby(&self, name: &str) -> Self {
        let standby = Self::empty(self.bin.clone());
        let data = standby.data();
        let source = format!(
            "host=127.0.0.1 port={} user=postgres application_name={name}",
            self.port
        );
        standby.run(
            "pg_basebackup",
            &[
                "-D",
                &data,
                "-d",
                &source,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        standby.start_again();
        standby
    }

    /// A server not created yet: its folder (the postgres user's when running as root) and a
    /// free port.
    fn empty(bin: PathBuf) -> Self {
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
        Self {
            dir,
            bin,
            port,
            run_as,
            killed: AtomicBool::new(false),
        }
    }

    /// `initdb`; with `settings` (a replication primary's), those appended to
    /// `postgresql.conf` and a replication line to `pg_hba.conf`.
    fn init(&self, settings: &[String]) {
        let data = self.data();
        self.run(
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
        if settings.is_empty() {
            return;
        }
        let conf = Path::new(&data).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str("\n# securechat failover test\n");
        for line in settings {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&conf, text).expect("write postgresql.conf");
        // initdb's pg_hba.conf already lets loopback replication in with trust; said here
        // too, as an operator's primary must.
        let hba = Path::new(&data).join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        text.push_str("host replication postgres 127.0.0.1/32 trust\n");
        std::fs::write(&hba, text).expect("write pg_hba.conf");
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
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

    /// Kills the server as the loss of its machine would: SIGKILL to the postmaster and to
    /// every process it started, at once; no shutdown of any kind. It stays down (its files
    /// remain, as on a disk that outlived its machine).
    ///
    /// # Panics
    /// When it is not running, or its processes outlive SIGKILL.
    pub fn kill(&self) {
        let pid_file = Path::new(&self.data()).join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).expect("postmaster.pid: is it running?");
        let postmaster: u32 = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("the postmaster's pid");
        // The postmaster first, so that it does not see a child die and stop the others
        // itself; a child that ends by itself meanwhile makes `kill` fail for it (no such
        // process), so what counts is that none is left.
        let mut pids = vec![postmaster];
        pids.extend(children_of(postmaster));
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(pids.iter().map(u32::to_string))
            .stderr(Stdio::null())
            .status()
            .expect("run kill");
        self.killed.store(true, Ordering::SeqCst);
        let started = Instant::now();
        while pids.iter().any(|pid| alive(*pid)) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "PostgreSQL's processes outlived SIGKILL: {:?}",
                pids.iter().filter(|pid| alive(**pid)).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Promotes this standby to a primary (`pg_ctl promote`), waiting until it takes writes.
    ///
    /// # Panics
    /// When `pg_ctl` fails (not a standby, not running).
    pub fn promote(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-w", "-t", "60", "promote"]);
    }

    /// Runs one SQL statement (outside a transaction block, as `ALTER SYSTEM` needs).
    ///
    /// # Panics
    /// When it fails.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.connect().await;
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// Waits until this primary's `pg_stat_replication` shows the standby `name` streaming
    /// as its synchronous standby (`sync_state = 'sync'`); how long that took.
    ///
    /// # Panics
    /// When it does not within `patience`.
    pub async fn wait_for_sync_standby(&self, name: &str, patience: Duration) -> Duration {
        let started = Instant::now();
        let mut conn = self.connect().await;
        loop {
            let state: Option<(String, String)> = sqlx::query_as(
                "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1",
            )
            .bind(name)
            .fetch_optional(&mut conn)
            .await
            .expect("read pg_stat_replication");
            if state
                .as_ref()
                .is_some_and(|(state, sync)| state == "streaming" && sync == "sync")
            {
                let _ = conn.close().await;
                return started.elapsed();
            }
            assert!(
                started.elapsed() < patience,
                "the standby {name} is not a streaming synchronous standby after {patience:?} \
                 (pg_stat_replication: {state:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url()))
    }

    /// Starts the stopped server again (recovering after an immediate stop), and waits until
    /// it accepts connections.
    ///
    /// # Panics
    /// When it does not start.
    pub fn start_again(&self) {
        let data = self.data();
        let log = self.path("server.log");
        let options = self.start_options();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
        self.killed.store(false, Ordering::SeqCst);
    }

    /// The server's options on `pg_ctl start`: its port, loopback only, its socket in its
    /// folder.
    fn start_options(&self) -> String {
        format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        )
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn data(&self) -> String {
        self.path("data")
    }

    /// The command running one of the server programs (as the postgres user when needed),
    /// in the server's folder.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        command.current_dir(self.dir.path());
        command
    }

    /// Runs one of the server programs.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
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
        if self.killed.load(Ordering::SeqCst) {
            // A killed postmaster leaves its shared memory behind (a System V segment and a
            // file in /dev/shm); a start finds and removes it.
            let log = self.path("server.log");
            let options = self.start_options();
            let _ = self
                .command("pg_ctl")
                .args(["-D", &data, "-l", &log, "-o", &options, "-w", "start"])
                .output();
        }
        // Already stopped is fine; the folder goes with `dir`.
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The processes whose parent is `parent` (from `/proc`).
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid …; comm may hold spaces and parentheses.
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// Whether a process runs (a zombie waiting for its parent does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
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
