//! The server's settings: plain typed values, no globals. The binary builds them from its
//! command line, environment and config file; tests build them directly.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
pub use securechat_proto::auth::{PasswordLogins, RegistrationMode};

/// The paper's IP rule at login ("botnet detection").
#[derive(Debug, Clone)]
pub struct IpRule {
    /// Off disables the rule entirely.
    pub enabled: bool,
    /// Refuse a login when the user would then have active sessions from more than this many
    /// distinct IPs (the paper: 3).
    pub max_ips_per_user: usize,
    /// Refuse a login when the IP would then carry active sessions of this many or more
    /// distinct users (the paper: 3).
    pub refuse_users_per_ip: usize,
    /// Networks exempt from the rule.
    pub allow: Vec<IpNet>,
}

/// Failed-login limits (brute-force protection). A count of 0 is no limit.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Failed logins allowed per account within `window`, from sources the account has not
    /// logged in from within `known_source_ttl` (known sources are never locked out).
    pub per_account: u32,
    /// Failed logins allowed per client IP within `window`.
    pub per_ip: u32,
    pub window: Duration,
    /// Failures per (account, source) before each further attempt must wait 1 s, 2 s, 4 s, …
    pub per_source_free: u32,
    /// Longest such wait.
    pub per_source_max_delay: Duration,
    /// Failed logins allowed server-wide within `window`; past it, only known sources may
    /// log in until the window ends (credential stuffing).
    pub global: u32,
    /// How long a successful login makes its source address known to the account.
    pub known_source_ttl: Duration,
}

/// Registration limits (429 with Retry-After past them). A count of 0 is no limit.
#[derive(Debug, Clone)]
pub struct RegistrationLimits {
    /// Registrations allowed per client IP within `window`.
    pub per_ip: u32,
    /// Registrations allowed server-wide within `window`.
    pub global: u32,
    pub window: Duration,
}

/// Limits of the real-time channel.
#[derive(Debug, Clone)]
pub struct RealtimeLimits {
    /// Largest envelope accepted, in bytes of its JSON fields (default 64 KiB).
    pub max_envelope_bytes: usize,
    /// Largest WebSocket frame read at all; larger ones close the connection (1009).
    pub max_frame_bytes: usize,
    /// Sustained client frames per second per connection.
    pub frames_per_second: u32,
    /// Burst of client frames above the sustained rate.
    pub frame_burst: u32,
    /// Sustained frames per second shared by all connections of one user.
    pub frames_per_second_per_user: u32,
    pub frame_burst_per_user: u32,
    /// Sustained frames per second shared by all connections from one client address.
    pub frames_per_second_per_address: u32,
    pub frame_burst_per_address: u32,
    /// Longest wait for one write to a WebSocket; a client that does not read for this long
    /// is disconnected (what it missed stays in its stream for resume).
    pub write_timeout: Duration,
    /// Open WebSockets per user.
    pub max_connections_per_user: usize,
    /// Frames queued for one connection before it counts as a slow reader and is closed.
    pub outbound_queue: usize,
    /// Time allowed for the `auth` frame.
    pub auth_timeout: Duration,
    /// Interval of WebSocket pings.
    pub heartbeat: Duration,
    /// Origins allowed to open WebSockets (browsers send Origin; clients without it pass).
    /// Empty: only the server's own origin (same Host).
    pub allowed_origins: Vec<String>,
}

/// Limits on HTTP connections, before any request is read.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time allowed to send a request's headers (also the first byte of a new connection,
    /// and the idle time between keep-alive requests).
    pub header_timeout: Duration,
    /// Open TCP connections from one address; more are closed at once. Trusted proxies
    /// are exempt (every proxied client arrives from them).
    pub max_per_address: usize,
}

/// Everything the server needs to know at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The data folder (database, token secret, later files and backups).
    pub data_dir: PathBuf,
    /// `iss` and `aud` of access tokens.
    pub issuer: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub ip_rule: IpRule,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    pub login_limits: LoginLimits,
    pub registration_limits: RegistrationLimits,
    /// How long after a refresh the previous refresh token still yields the same successor
    /// (two tabs or processes refreshing at once); later, presenting it is reuse.
    pub refresh_grace: Duration,
    /// Password hashes computed at once (each holds 19 MiB).
    pub hash_concurrency: usize,
    /// How often expired sessions are swept.
    pub sweep_interval: Duration,
    /// How long a positive session check is cached (revocations on this node apply at once).
    pub session_cache_ttl: Duration,
    pub realtime: RealtimeLimits,
    pub connections: ConnectionLimits,
    /// Serve `/metrics` on the main listener (off when it has a listener of its own).
    pub metrics_on_main: bool,
    /// Largest uploaded file, in bytes of ciphertext.
    pub max_file_bytes: u64,
    /// Uploads streamed to disk at once; more wait (unread, so their bytes stay in the
    /// kernel's socket buffers instead of the server's memory).
    pub upload_concurrency: usize,
    /// Uploaded files no message references are deleted after this long.
    pub unreferenced_file_ttl: Duration,
    /// How often self-destructing messages are checked (removal happens within this).
    pub expiry_interval: Duration,
    /// Send `Strict-Transport-Security` (set when the server terminates TLS itself).
    pub hsts: bool,
    /// How often the database is read for what other processes wrote there (`securechat
    /// admin`, other nodes): revoked sessions, the stream ends of the users connected here,
    /// operators' unblocks (see `crate::cluster::poll`). In a cluster, delivery without
    /// Redis takes at most about twice this.
    pub poll_interval: Duration,
    /// Several nodes on one database, with Redis carrying word between them (`None`: this
    /// process is the only node).
    pub cluster: Option<ClusterSettings>,
    /// Who may register (`open`, `invite`: with an invitation code, the first account of an
    /// empty server excepted; `closed`).
    pub registration: RegistrationMode,
    /// Whether passwords are still taken (docs/PROTOCOL.md §18.6).
    pub password_logins: PasswordLogins,
    /// The address users reach the server at (`https://chat.example.org`), for the links in
    /// invitations and reset codes; `None`: links are left to whoever makes the code.
    pub public_url: Option<String>,
    /// Where "forgot password" mail goes out (needs `public_url` for its links); `None`: no
    /// mail, resets are made by an operator.
    pub mail: Option<crate::mail::Mailer>,
}

/// How this node works with the others (see `crate::cluster`). Its `Debug` leaves out the
/// Redis client, whose connection details include the password.
#[derive(Clone)]
pub struct ClusterSettings {
    /// The Redis server (`redis://host:port/db`).
    pub redis: redis::Client,
    /// A node not heard from for this long is taken for dead (its users go offline).
    pub node_timeout: Duration,
}

impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("redis", &"<redacted>")
            .field("node_timeout", &self.node_timeout)
            .finish()
    }
}

impl ClusterSettings {
    /// The defaults for a Redis URL: nodes dead after 3 s of silence.
    /// Fails on a URL that is not a Redis URL (nothing is connected yet).
    pub fn new(redis_url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            redis: redis::Client::open(redis_url)?,
            node_timeout: Duration::from_secs(3),
        })
    }
}

impl Settings {
    /// The defaults, with the data folder given.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            issuer: "securechat".to_owned(),
            access_ttl: Duration::from_secs(30 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            ip_rule: IpRule {
                enabled: true,
                max_ips_per_user: 3,
                refuse_users_per_ip: 3,
                allow: Vec::new(),
            },
            trusted_proxies: Vec::new(),
            login_limits: LoginLimits {
                per_account: 10,
                per_ip: 50,
                window: Duration::from_secs(15 * 60),
                per_source_free: 3,
                per_source_max_delay: Duration::from_secs(15 * 60),
                global: 200,
                known_source_ttl: Duration::from_secs(30 * 24 * 3600),
            },
            registration_limits: RegistrationLimits {
                per_ip: 10,
                global: 300,
                window: Duration::from_secs(3600),
            },
            refresh_grace: Duration::from_secs(10),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            sweep_interval: Duration::from_secs(60),
            session_cache_ttl: Duration::from_secs(10),
            realtime: RealtimeLimits {
                max_envelope_bytes: 64 * 1024,
                max_frame_bytes: 1024 * 1024,
                frames_per_second: 1000,
                frame_burst: 4000,
                frames_per_second_per_user: 1000,
                frame_burst_per_user: 4000,
                frames_per_second_per_address: 4000,
                frame_burst_per_address: 16000,
                write_timeout: Duration::from_secs(10),
                max_connections_per_user: 16,
                outbound_queue: 4096,
                auth_timeout: Duration::from_secs(5),
                heartbeat: Duration::from_secs(30),
                allowed_origins: Vec::new(),
            },
            connections: ConnectionLimits {
                header_timeout: Duration::from_secs(10),
                max_per_address: 256,
            },
            metrics_on_main: true,
            max_file_bytes: 100 * 1024 * 1024,
            upload_concurrency: 16,
            unreferenced_file_ttl: Duration::from_secs(24 * 3600),
            expiry_interval: Duration::from_millis(250),
            hsts: false,
            poll_interval: Duration::from_secs(1),
            cluster: None,
            registration: RegistrationMode::Invite,
            password_logins: PasswordLogins::Migrate,
            public_url: None,
            mail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redis_password_stays_out_of_debug_output() {
        let cluster =
            ClusterSettings::new("redis://:hunter2-secret@127.0.0.1:6379/0").expect("a Redis URL");
        let mut settings = Settings::new(PathBuf::from("data"));
        settings.cluster = Some(cluster.clone());
        assert!(
            format!("{:?}", cluster.redis).contains("hunter2"),
            "the client keeps it"
        );
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
