//! Server options: command line and `SECURECHAT_…` environment (clap), over an optional TOML
//! file, over the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use figment::providers::{Format as _, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use securechat_server::settings::{ClusterSettings, PasswordLogins, RegistrationMode, Settings};

/// The commented example configuration (`securechat default-config`).
pub const EXAMPLE: &str = include_str!("../securechat.example.toml");

/// Options of the server. Each is optional here so the config file can fill what the command
/// line and environment leave out.
#[derive(Clone, Default, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "SECURECHAT_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SECURECHAT_LISTEN", value_name = "ADDR:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Data folder: database, token secret [default: ./data].
    #[arg(long, env = "SECURECHAT_DATA_DIR", value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB
    /// [default: sqlite://<data-dir>/securechat.db].
    #[arg(
        long,
        env = "SECURECHAT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Redis URL (redis://HOST:PORT/DB): run as one node of a cluster sharing the
    /// PostgreSQL database; Redis carries messages, presence and revocations between nodes
    /// [default: none, a single node].
    #[arg(
        long,
        env = "SECURECHAT_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Cluster: how often the database is polled for what Redis did not carry, in
    /// milliseconds [default: 1000].
    #[arg(long, env = "SECURECHAT_CLUSTER_POLL_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_poll_ms: Option<u64>,
    /// PostgreSQL: connections in the pool [default: 16].
    #[arg(long, env = "SECURECHAT_DATABASE_POOL_SIZE", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_pool_size: Option<u32>,
    /// PostgreSQL: longest a statement may run before it is cancelled, in milliseconds
    /// [default: 10000].
    #[arg(
        long,
        env = "SECURECHAT_DATABASE_STATEMENT_TIMEOUT_MS",
        value_name = "MS"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_statement_timeout_ms: Option<u64>,
    /// PEM certificate chain: serve HTTPS directly (with --tls-key).
    #[arg(
        long,
        env = "SECURECHAT_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(
        long,
        env = "SECURECHAT_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Token signing secret (≥ 32 bytes) [default: generated into the data folder].
    #[arg(
        long,
        env = "SECURECHAT_TOKEN_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<String>,
    /// Access-token lifetime in seconds [default: 1800].
    #[arg(long, env = "SECURECHAT_ACCESS_TTL_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_ttl_secs: Option<u64>,
    /// Refresh-token lifetime in seconds [default: 604800].
    #[arg(long, env = "SECURECHAT_REFRESH_TTL_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_ttl_secs: Option<u64>,
    /// Who may register: open (anyone who reaches the server), invite (with a code from
    /// `securechat admin invite`; the first account of an empty server needs none) or closed
    /// [default: invite].
    #[arg(long, env = "SECURECHAT_REGISTRATION", value_name = "MODE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<RegistrationMode>,
    /// Whether the server still takes passwords: migrate (password logins still work for
    /// accounts made with one, and move them to OPAQUE), legacy (they work and stay as they
    /// are) or opaque (OPAQUE only: passwords never reach the server) [default: migrate].
    #[arg(long, env = "SECURECHAT_PASSWORD_LOGINS", value_name = "MODE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_logins: Option<PasswordLogins>,
    /// The address users reach the server at (https://chat.example.org), used in the links
    /// of invitations and password-reset codes [default: none].
    #[arg(long, env = "SECURECHAT_PUBLIC_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// SMTP relay for "forgot password" mail: smtps://USER:PASSWORD@HOST:465,
    /// smtp://HOST:587?tls=required, or smtp://HOST:25 (plain, a relay on this machine);
    /// needs --smtp-from and --public-url [default: none, an operator makes reset codes].
    #[arg(
        long,
        env = "SECURECHAT_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// Sender of that mail, e.g. "securechat <chat@example.org>".
    #[arg(long, env = "SECURECHAT_SMTP_FROM", value_name = "ADDRESS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_from: Option<String>,
    /// Apply the IP rule at login [default: true].
    #[arg(long, env = "SECURECHAT_IP_RULE", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_rule: Option<bool>,
    /// IP rule: refuse a login when the user would have sessions from more than N IPs [default: 3].
    #[arg(long, env = "SECURECHAT_IP_RULE_MAX_IPS_PER_USER", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_rule_max_ips_per_user: Option<usize>,
    /// IP rule: refuse a login when the IP would carry sessions of N or more users [default: 3].
    #[arg(long, env = "SECURECHAT_IP_RULE_REFUSE_USERS_PER_IP", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_rule_refuse_users_per_ip: Option<usize>,
    /// Networks exempt from the IP rule, comma-separated CIDRs [default: none].
    #[arg(
        long,
        env = "SECURECHAT_IP_ALLOW",
        value_name = "CIDR,…",
        value_delimiter = ','
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_allow: Option<Vec<IpNet>>,
    /// Reverse proxies whose X-Forwarded-For / Forwarded headers are trusted [default: none].
    #[arg(
        long,
        env = "SECURECHAT_TRUSTED_PROXIES",
        value_name = "CIDR,…",
        value_delimiter = ','
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<IpNet>>,
    /// Failed logins allowed per account per window [default: 10].
    #[arg(long, env = "SECURECHAT_LOGIN_FAILURES_PER_ACCOUNT", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_failures_per_account: Option<u32>,
    /// Failed logins allowed per client IP per window [default: 50].
    #[arg(long, env = "SECURECHAT_LOGIN_FAILURES_PER_IP", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_failures_per_ip: Option<u32>,
    /// Failed-login window in seconds [default: 900].
    #[arg(
        long,
        env = "SECURECHAT_LOGIN_FAILURE_WINDOW_SECS",
        value_name = "SECS"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_failure_window_secs: Option<u64>,
    /// Failed logins per (account, address) before each further attempt waits 1 s, 2 s, 4 s, … [default: 3].
    #[arg(long, env = "SECURECHAT_LOGIN_SOURCE_FREE_FAILURES", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_source_free_failures: Option<u32>,
    /// Longest such wait in seconds [default: 900].
    #[arg(
        long,
        env = "SECURECHAT_LOGIN_SOURCE_MAX_DELAY_SECS",
        value_name = "SECS"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_source_max_delay_secs: Option<u64>,
    /// Failed logins allowed server-wide per window; past it only known addresses log in [default: 200; 0: none].
    #[arg(long, env = "SECURECHAT_LOGIN_FAILURES_GLOBAL", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_failures_global: Option<u32>,
    /// Days a successful login makes its address known to the account [default: 30].
    #[arg(long, env = "SECURECHAT_LOGIN_KNOWN_SOURCE_DAYS", value_name = "DAYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_known_source_days: Option<u64>,
    /// Registrations allowed per client IP per registration window [default: 10; 0: no limit].
    #[arg(long, env = "SECURECHAT_REGISTRATIONS_PER_IP", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrations_per_ip: Option<u32>,
    /// Registrations allowed server-wide per registration window [default: 300; 0: no limit].
    #[arg(long, env = "SECURECHAT_REGISTRATIONS_GLOBAL", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrations_global: Option<u32>,
    /// Registration window in seconds [default: 3600].
    #[arg(long, env = "SECURECHAT_REGISTRATION_WINDOW_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_window_secs: Option<u64>,
    /// Seconds a rotated refresh token still yields the same successor [default: 10].
    #[arg(long, env = "SECURECHAT_REFRESH_GRACE_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_grace_secs: Option<u64>,
    /// Password hashes computed at once, each holding 19 MiB [default: number of cores].
    #[arg(long, env = "SECURECHAT_HASH_CONCURRENCY", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_concurrency: Option<usize>,
    /// Seconds between sweeps of expired sessions [default: 60].
    #[arg(long, env = "SECURECHAT_SWEEP_INTERVAL_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_interval_secs: Option<u64>,
    /// Largest message envelope accepted, in bytes [default: 65536].
    #[arg(long, env = "SECURECHAT_MAX_ENVELOPE_BYTES", value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_envelope_bytes: Option<usize>,
    /// Largest uploaded file, in bytes [default: 104857600].
    #[arg(long, env = "SECURECHAT_MAX_FILE_BYTES", value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_file_bytes: Option<u64>,
    /// Uploads streamed to disk at once; more wait their turn [default: 16].
    #[arg(long, env = "SECURECHAT_UPLOAD_CONCURRENCY", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_concurrency: Option<usize>,
    /// Where file bytes live: s3://BUCKET[/PREFIX] for an S3-compatible bucket shared by a
    /// cluster; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    /// [default: the folder <data-dir>/files].
    #[arg(long, env = "SECURECHAT_FILES_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_url: Option<String>,
    /// S3-compatible server, http(s)://HOST[:PORT] [default: AWS for --s3-region].
    #[arg(long, env = "SECURECHAT_S3_ENDPOINT", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "SECURECHAT_S3_REGION", value_name = "REGION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_region: Option<String>,
    /// Allow a plain-HTTP --s3-endpoint (a test server on this machine only) [default: false].
    #[arg(long, env = "SECURECHAT_S3_ALLOW_HTTP", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_allow_http: Option<bool>,
    /// Sustained WebSocket frames per second per connection [default: 1000].
    #[arg(long, env = "SECURECHAT_FRAMES_PER_SECOND", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_per_second: Option<u32>,
    /// Burst of WebSocket frames above the sustained rate [default: 4000].
    #[arg(long, env = "SECURECHAT_FRAME_BURST", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_burst: Option<u32>,
    /// Open WebSockets per user [default: 16].
    #[arg(long, env = "SECURECHAT_MAX_CONNECTIONS_PER_USER", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_user: Option<usize>,
    /// Origins allowed to open WebSockets, comma-separated (e.g. https://chat.example.org);
    /// when set, only these pass [default: the server's own origin only].
    #[arg(
        long,
        env = "SECURECHAT_ALLOWED_ORIGINS",
        value_name = "ORIGIN,…",
        value_delimiter = ','
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// Sustained WebSocket frames per second shared by all of one user's connections
    /// [default: 1000].
    #[arg(long, env = "SECURECHAT_FRAMES_PER_SECOND_PER_USER", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_per_second_per_user: Option<u32>,
    /// Burst of frames above the per-user rate [default: 4000].
    #[arg(long, env = "SECURECHAT_FRAME_BURST_PER_USER", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_burst_per_user: Option<u32>,
    /// Sustained WebSocket frames per second shared by all connections from one client
    /// address [default: 4000].
    #[arg(
        long,
        env = "SECURECHAT_FRAMES_PER_SECOND_PER_ADDRESS",
        value_name = "N"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_per_second_per_address: Option<u32>,
    /// Burst of frames above the per-address rate [default: 16000].
    #[arg(long, env = "SECURECHAT_FRAME_BURST_PER_ADDRESS", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_burst_per_address: Option<u32>,
    /// Frames queued for one WebSocket before it counts as a slow reader [default: 4096].
    #[arg(long, env = "SECURECHAT_OUTBOUND_QUEUE", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_queue: Option<usize>,
    /// Seconds one write to a WebSocket may take before the client is dropped [default: 10].
    #[arg(long, env = "SECURECHAT_WRITE_TIMEOUT_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_timeout_secs: Option<u64>,
    /// Seconds a connection has to send its request headers, and idle keep-alive
    /// connections are kept [default: 10].
    #[arg(long, env = "SECURECHAT_HEADER_TIMEOUT_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_timeout_secs: Option<u64>,
    /// Open connections per client address; trusted proxies are exempt [default: 256].
    #[arg(long, env = "SECURECHAT_MAX_CONNECTIONS_PER_ADDRESS", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds allowed for a WebSocket's first (`auth`) frame [default: 5].
    #[arg(long, env = "SECURECHAT_AUTH_TIMEOUT_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_timeout_secs: Option<u64>,
    /// Seconds between WebSocket pings [default: 30].
    #[arg(long, env = "SECURECHAT_HEARTBEAT_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_secs: Option<u64>,
    /// Seconds an uploaded file no message took is kept [default: 86400].
    #[arg(
        long,
        env = "SECURECHAT_UNREFERENCED_FILE_TTL_SECS",
        value_name = "SECS"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreferenced_file_ttl_secs: Option<u64>,
    /// Milliseconds between checks for self-destructing messages [default: 250].
    #[arg(long, env = "SECURECHAT_EXPIRY_INTERVAL_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_interval_ms: Option<u64>,
    /// Serve /metrics on this address only, not on --listen (keep it off the public
    /// listener) [default: /metrics on --listen].
    #[arg(long, env = "SECURECHAT_METRICS_LISTEN", value_name = "ADDR:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log format: text or json [default: text]. Levels come from RUST_LOG (default info).
    #[arg(long, env = "SECURECHAT_LOG_FORMAT", value_name = "FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Take a backup every day into this folder (database, files, token secret, manifest;
    /// `securechat restore` reads it) [default: none].
    #[arg(long, env = "SECURECHAT_BACKUP_DIR", value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_dir: Option<PathBuf>,
    /// Local time of day of the backup, HH:MM [default: 03:00].
    #[arg(long, env = "SECURECHAT_BACKUP_AT", value_name = "HH:MM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_at: Option<String>,
    /// Backups kept in --backup-dir; older ones are removed [default: 7].
    #[arg(long, env = "SECURECHAT_BACKUP_KEEP", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_keep: Option<usize>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A config file's error, naming the key at fault: `key `listen`: invalid socket address
/// syntax` (figment would say `key "default.listen"`), or the unknown key without the list of
/// every known one.
fn file_error(path: &std::path::Path, error: figment::Error) -> anyhow::Error {
    let problems: Vec<String> = error
        .into_iter()
        .map(|e| match &e.kind {
            figment::error::Kind::UnknownField(key, _) => {
                format!("unknown key `{key}` (`securechat default-config` lists every key)")
            }
            kind if e.path.is_empty() => kind.to_string(),
            kind => format!("key `{}`: {kind}", e.path.join(".")),
        })
        .collect();
    anyhow::anyhow!(
        "invalid config file {}: {}",
        path.display(),
        problems.join("; ")
    )
}

/// The final configuration (no `Debug`: it holds the token secret).
pub struct Config {
    pub listen: SocketAddr,
    /// Where `/metrics` is served on its own, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    pub database_url: String,
    /// Pool size and statement timeout for PostgreSQL (SQLite ignores them).
    pub database_pool_size: u32,
    pub database_statement_timeout: Duration,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The S3-compatible bucket for file bytes; `None`: the folder `<data-dir>/files`.
    pub files_s3: Option<securechat_server::blobs::S3Options>,
    pub token_secret: Option<String>,
    pub log_format: LogFormat,
    /// The daily backup (`--backup-dir`), if any.
    pub backup: Option<securechat_backup::Schedule>,
    pub settings: Settings,
}

impl ServeArgs {
    /// Refuses a zero where zero makes no sense (a lifetime, a size, an interval, a count of
    /// something that must exist), naming the option, its environment variable and its key.
    fn refuse_zeros(&self) -> anyhow::Result<()> {
        let wide = |v: Option<usize>| v.map(|v| v as u64);
        let given: [(&str, Option<u64>); 21] = [
            ("access-ttl-secs", self.access_ttl_secs),
            ("refresh-ttl-secs", self.refresh_ttl_secs),
            ("login-failure-window-secs", self.login_failure_window_secs),
            ("registration-window-secs", self.registration_window_secs),
            ("hash-concurrency", wide(self.hash_concurrency)),
            ("sweep-interval-secs", self.sweep_interval_secs),
            ("max-envelope-bytes", wide(self.max_envelope_bytes)),
            ("max-file-bytes", self.max_file_bytes),
            ("upload-concurrency", wide(self.upload_concurrency)),
            ("frames-per-second", self.frames_per_second.map(u64::from)),
            ("frame-burst", self.frame_burst.map(u64::from)),
            (
                "max-connections-per-user",
                wide(self.max_connections_per_user),
            ),
            ("outbound-queue", wide(self.outbound_queue)),
            ("write-timeout-secs", self.write_timeout_secs),
            ("header-timeout-secs", self.header_timeout_secs),
            (
                "max-connections-per-address",
                wide(self.max_connections_per_address),
            ),
            ("auth-timeout-secs", self.auth_timeout_secs),
            ("heartbeat-secs", self.heartbeat_secs),
            (
                "unreferenced-file-ttl-secs",
                self.unreferenced_file_ttl_secs,
            ),
            ("expiry-interval-ms", self.expiry_interval_ms),
            ("backup-keep", wide(self.backup_keep)),
        ];
        for (flag, value) in given {
            if value == Some(0) {
                anyhow::bail!(
                    "--{flag} (SECURECHAT_{}, or {} in the config file) must be at least 1",
                    flag.to_uppercase().replace('-', "_"),
                    flag.replace('-', "_")
                );
            }
        }
        Ok(())
    }

    /// Applies the config file (if any) under the command line and environment, then the
    /// defaults.
    pub fn resolve(mut self) -> anyhow::Result<Config> {
        if let Some(path) = self.config.clone() {
            if !path.is_file() {
                anyhow::bail!("cannot read config file {}: no such file", path.display());
            }
            // The file under the command line and environment: one serde type, layered.
            self = Figment::from(Toml::file(&path))
                .merge(Serialized::defaults(&self))
                .extract()
                .map_err(|e| file_error(&path, e))?;
            self.config = Some(path);
        }
        self.refuse_zeros()?;
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let mut settings = Settings::new(data_dir.clone());
        let d = Settings::new(data_dir.clone());
        settings.access_ttl = self
            .access_ttl_secs
            .map_or(d.access_ttl, Duration::from_secs);
        settings.refresh_ttl = self
            .refresh_ttl_secs
            .map_or(d.refresh_ttl, Duration::from_secs);
        settings.registration = self.registration.unwrap_or(d.registration);
        settings.password_logins = self.password_logins.unwrap_or(d.password_logins);
        settings.public_url = match self.public_url {
            None => None,
            Some(url) => Some(public_url(&url)?),
        };
        // An empty value means "not set" (a Compose file passes `SECURECHAT_SMTP_URL=` through
        // when the operator has no mail server).
        let set = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        settings.mail = match (set(self.smtp_url), set(self.smtp_from)) {
            (None, None) => None,
            (Some(url), Some(from)) => {
                if settings.public_url.is_none() {
                    anyhow::bail!(
                        "--smtp-url needs --public-url (SECURECHAT_PUBLIC_URL): the mailed \
                         links point there"
                    );
                }
                Some(securechat_server::mail::Mailer::new(&url, &from).context(
                    "--smtp-url / --smtp-from (SECURECHAT_SMTP_URL / SECURECHAT_SMTP_FROM)",
                )?)
            }
            _ => anyhow::bail!(
                "--smtp-url and --smtp-from (SECURECHAT_SMTP_URL, SECURECHAT_SMTP_FROM) go together"
            ),
        };
        settings.ip_rule.enabled = self.ip_rule.unwrap_or(d.ip_rule.enabled);
        settings.ip_rule.max_ips_per_user = self
            .ip_rule_max_ips_per_user
            .unwrap_or(d.ip_rule.max_ips_per_user);
        settings.ip_rule.refuse_users_per_ip = self
            .ip_rule_refuse_users_per_ip
            .unwrap_or(d.ip_rule.refuse_users_per_ip);
        settings.ip_rule.allow = self.ip_allow.unwrap_or_default();
        settings.trusted_proxies = self.trusted_proxies.unwrap_or_default();
        let limits = &mut settings.login_limits;
        limits.per_account = self
            .login_failures_per_account
            .unwrap_or(d.login_limits.per_account);
        limits.per_ip = self.login_failures_per_ip.unwrap_or(d.login_limits.per_ip);
        limits.window = self
            .login_failure_window_secs
            .map_or(d.login_limits.window, Duration::from_secs);
        limits.per_source_free = self
            .login_source_free_failures
            .unwrap_or(d.login_limits.per_source_free);
        limits.per_source_max_delay = self
            .login_source_max_delay_secs
            .map_or(d.login_limits.per_source_max_delay, Duration::from_secs);
        limits.global = self.login_failures_global.unwrap_or(d.login_limits.global);
        limits.known_source_ttl = self
            .login_known_source_days
            .map_or(d.login_limits.known_source_ttl, |days| {
                Duration::from_secs(days.saturating_mul(24 * 3600))
            });
        let registrations = &mut settings.registration_limits;
        registrations.per_ip = self
            .registrations_per_ip
            .unwrap_or(d.registration_limits.per_ip);
        registrations.global = self
            .registrations_global
            .unwrap_or(d.registration_limits.global);
        registrations.window = self
            .registration_window_secs
            .map_or(d.registration_limits.window, Duration::from_secs);
        settings.refresh_grace = self
            .refresh_grace_secs
            .map_or(d.refresh_grace, Duration::from_secs);
        settings.hash_concurrency = self.hash_concurrency.unwrap_or(d.hash_concurrency);
        settings.sweep_interval = self
            .sweep_interval_secs
            .map_or(d.sweep_interval, Duration::from_secs);
        let rt = &mut settings.realtime;
        rt.max_envelope_bytes = self
            .max_envelope_bytes
            .unwrap_or(d.realtime.max_envelope_bytes);
        rt.frames_per_second = self
            .frames_per_second
            .unwrap_or(d.realtime.frames_per_second);
        rt.frame_burst = self.frame_burst.unwrap_or(d.realtime.frame_burst);
        rt.max_connections_per_user = self
            .max_connections_per_user
            .unwrap_or(d.realtime.max_connections_per_user);
        rt.allowed_origins = self.allowed_origins.unwrap_or_default();
        rt.frames_per_second_per_user = self
            .frames_per_second_per_user
            .unwrap_or(d.realtime.frames_per_second_per_user);
        rt.frame_burst_per_user = self
            .frame_burst_per_user
            .unwrap_or(d.realtime.frame_burst_per_user);
        rt.frames_per_second_per_address = self
            .frames_per_second_per_address
            .unwrap_or(d.realtime.frames_per_second_per_address);
        rt.frame_burst_per_address = self
            .frame_burst_per_address
            .unwrap_or(d.realtime.frame_burst_per_address);
        rt.outbound_queue = self.outbound_queue.unwrap_or(d.realtime.outbound_queue);
        rt.write_timeout = self
            .write_timeout_secs
            .map_or(d.realtime.write_timeout, Duration::from_secs);
        rt.auth_timeout = self
            .auth_timeout_secs
            .map_or(d.realtime.auth_timeout, Duration::from_secs);
        rt.heartbeat = self
            .heartbeat_secs
            .map_or(d.realtime.heartbeat, Duration::from_secs);
        settings.connections.header_timeout = self
            .header_timeout_secs
            .map_or(d.connections.header_timeout, Duration::from_secs);
        settings.connections.max_per_address = self
            .max_connections_per_address
            .unwrap_or(d.connections.max_per_address);
        settings.unreferenced_file_ttl = self
            .unreferenced_file_ttl_secs
            .map_or(d.unreferenced_file_ttl, Duration::from_secs);
        settings.expiry_interval = self
            .expiry_interval_ms
            .map_or(d.expiry_interval, Duration::from_millis);
        settings.metrics_on_main = self.metrics_listen.is_none();
        settings.max_file_bytes = self.max_file_bytes.unwrap_or(d.max_file_bytes);
        settings.upload_concurrency = self.upload_concurrency.unwrap_or(d.upload_concurrency);
        let database_pool_size = self.database_pool_size.unwrap_or(16);
        if database_pool_size == 0 {
            anyhow::bail!("--database-pool-size must be at least 1");
        }
        let database_statement_timeout_ms = self.database_statement_timeout_ms.unwrap_or(10_000);
        if database_statement_timeout_ms == 0 {
            anyhow::bail!("--database-statement-timeout-ms must be at least 1");
        }
        let files_s3 = crate::files::s3_options(
            self.files_url.as_deref(),
            self.s3_endpoint,
            self.s3_region,
            self.s3_allow_http,
        )?;
        let database_url = self
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("securechat.db").display()));
        settings.cluster = match self.redis_url {
            None if self.cluster_poll_ms.is_some() => {
                anyhow::bail!("--cluster-poll-ms needs --redis-url")
            }
            None => None,
            Some(url) => {
                if !database_url.starts_with("postgres://")
                    && !database_url.starts_with("postgresql://")
                {
                    anyhow::bail!(
                        "--redis-url makes this process one node of a cluster, and the nodes of a \
                         cluster share one PostgreSQL database: give --database-url postgres://…"
                    );
                }
                let cluster = ClusterSettings::new(&url).map_err(|e| {
                    anyhow::anyhow!(
                        "--redis-url is not a usable Redis URL (redis://HOST:PORT/DB): {e}"
                    )
                })?;
                if let Some(ms) = self.cluster_poll_ms {
                    if ms == 0 {
                        anyhow::bail!("--cluster-poll-ms must be at least 1");
                    }
                    settings.poll_interval = Duration::from_millis(ms);
                }
                Some(cluster)
            }
        };
        let backup = match self.backup_dir {
            None if self.backup_at.is_some() || self.backup_keep.is_some() => {
                anyhow::bail!("--backup-at and --backup-keep need --backup-dir DIR")
            }
            None => None,
            Some(dir) => Some(securechat_backup::Schedule {
                dir,
                at: match self.backup_at {
                    None => securechat_backup::schedule::DEFAULT_AT,
                    Some(at) => at.parse().map_err(|e| {
                        anyhow::anyhow!(
                            "--backup-at (SECURECHAT_BACKUP_AT, or backup_at in the config file): {e}"
                        )
                    })?,
                },
                keep: self
                    .backup_keep
                    .unwrap_or(securechat_backup::schedule::DEFAULT_KEEP),
            }),
        };
        Ok(Config {
            backup,
            metrics_listen: self.metrics_listen,
            listen: self
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url,
            database_pool_size,
            database_statement_timeout: Duration::from_millis(database_statement_timeout_ms),
            tls: self.tls_cert.zip(self.tls_key),
            files_s3,
            token_secret: self.token_secret,
            log_format: self.log_format.unwrap_or_default(),
            settings,
        })
    }
}

/// A `--public-url`: an http(s) address, kept without a trailing slash.
fn public_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(trimmed.to_owned())
        }
        _ => anyhow::bail!(
            "--public-url (SECURECHAT_PUBLIC_URL) must be an address like \
             https://chat.example.org, not {url:?}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_beats_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("securechat.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\nip_rule_max_ips_per_user = 5\nip_allow = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            ip_rule_max_ips_per_user: Some(7),
            ..ServeArgs::default()
        };
        let config = args.resolve().unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.settings.ip_rule.max_ips_per_user, 7);
        assert_eq!(config.settings.ip_rule.refuse_users_per_ip, 3);
        assert_eq!(config.settings.ip_rule.allow.len(), 1);
        assert_eq!(config.database_url, "sqlite://data/securechat.db");
    }

    #[test]
    fn every_layer_reaches_the_settings_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("securechat.toml");
        std::fs::write(
            &file,
            "header_timeout_secs = 3\nwrite_timeout_secs = 4\nframe_burst_per_user = 99\n\
             metrics_listen = \"127.0.0.1:9191\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            max_connections_per_address: Some(12),
            frame_burst_per_user: Some(7),
            ..ServeArgs::default()
        };
        let config = args.resolve().unwrap();
        let s = &config.settings;
        assert_eq!(s.connections.header_timeout, Duration::from_secs(3));
        assert_eq!(s.realtime.write_timeout, Duration::from_secs(4));
        assert_eq!(s.connections.max_per_address, 12);
        assert_eq!(s.realtime.frame_burst_per_user, 7, "the command line wins");
        assert_eq!(config.metrics_listen.map(|a| a.port()), Some(9191));
        assert!(!s.metrics_on_main);
        assert_eq!(config.log_format, LogFormat::Json);
        let missing = ServeArgs {
            config: Some(dir.path().join("nope.toml")),
            ..ServeArgs::default()
        };
        assert!(missing.resolve().is_err());
    }

    #[test]
    fn zero_lifetimes_and_sizes_are_refused_by_name() {
        let cases = [
            (
                ServeArgs {
                    access_ttl_secs: Some(0),
                    ..ServeArgs::default()
                },
                "--access-ttl-secs (SECURECHAT_ACCESS_TTL_SECS, or access_ttl_secs",
            ),
            (
                ServeArgs {
                    max_file_bytes: Some(0),
                    ..ServeArgs::default()
                },
                "--max-file-bytes (SECURECHAT_MAX_FILE_BYTES",
            ),
            (
                ServeArgs {
                    heartbeat_secs: Some(0),
                    ..ServeArgs::default()
                },
                "--heartbeat-secs (SECURECHAT_HEARTBEAT_SECS",
            ),
        ];
        for (args, named) in cases {
            let error = args.resolve().err().expect("refused").to_string();
            assert!(error.contains(named), "{error}");
        }
    }

    #[test]
    fn the_backup_schedule_is_read_and_checked() {
        let dir = |at: Option<&str>, keep: Option<usize>| ServeArgs {
            backup_dir: Some(PathBuf::from("/var/backups/securechat")),
            backup_at: at.map(str::to_owned),
            backup_keep: keep,
            ..ServeArgs::default()
        };
        let schedule = dir(None, None).resolve().unwrap().backup.unwrap();
        assert_eq!(schedule.at.to_string(), "03:00:00");
        assert_eq!(schedule.keep, 7);
        let schedule = dir(Some("22:15"), Some(3))
            .resolve()
            .unwrap()
            .backup
            .unwrap();
        assert_eq!(
            (schedule.at.to_string(), schedule.keep),
            ("22:15:00".into(), 3)
        );
        let error = dir(Some("25:00"), None)
            .resolve()
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("--backup-at (SECURECHAT_BACKUP_AT"),
            "{error}"
        );
        let error = dir(None, Some(0)).resolve().err().unwrap().to_string();
        assert!(error.contains("--backup-keep"), "{error}");
        let alone = ServeArgs {
            backup_keep: Some(3),
            ..ServeArgs::default()
        };
        assert!(alone.resolve().is_err(), "--backup-keep needs --backup-dir");
        assert!(ServeArgs::default().resolve().unwrap().backup.is_none());
    }

    #[test]
    fn empty_smtp_settings_mean_no_mail() {
        let empty = ServeArgs {
            smtp_url: Some(String::new()),
            smtp_from: Some(" ".to_owned()),
            ..ServeArgs::default()
        };
        assert!(empty.resolve().unwrap().settings.mail.is_none());
        let half = ServeArgs {
            smtp_url: Some("smtp://127.0.0.1:25".to_owned()),
            smtp_from: Some(String::new()),
            ..ServeArgs::default()
        };
        let error = half.resolve().err().unwrap().to_string();
        assert!(error.contains("go together"), "{error}");
    }

    #[test]
    fn the_example_config_parses_and_unknown_keys_are_refused() {
        toml::from_str::<ServeArgs>(EXAMPLE).unwrap();
        assert!(toml::from_str::<ServeArgs>("lissten = \"x\"").is_err());
    }
}
