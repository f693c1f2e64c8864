//! `securechat backup --out DIR` (a consistent backup of the server, also while it runs, with
//! the server's own options) and `securechat restore --from BACKUP --data-dir DIR` (into an
//! empty data folder, and an empty PostgreSQL database for a PostgreSQL backup). The work is
//! in the `securechat-backup` crate, which the server's schedule (`--backup-dir`) uses too.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use zeroize::Zeroizing;

use securechat_backup::{Database, FilesAt, Manifest, SecretAt, Source, Target};

use crate::cli::output::size;
use crate::config::{Config, ServeArgs};

#[derive(Args)]
pub struct BackupArgs {
    /// The folder to write the backup to; it must not exist yet (or be empty). It is built
    /// beside it and renamed into place when complete.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup: a folder made by `securechat backup` or by the server's --backup-dir.
    #[arg(long, value_name = "BACKUP")]
    pub from: PathBuf,
    /// The new data folder; it must not exist yet, or be empty.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// A PostgreSQL backup goes into this empty database (postgres://…); a SQLite one into
    /// sqlite://PATH [default: <data-dir>/securechat.db].
    #[arg(
        long,
        env = "SECURECHAT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

/// What a backup of this server is taken of.
pub(crate) fn source(config: &Config, database: Database) -> Source {
    Source {
        database,
        data_dir: config.settings.data_dir.clone(),
        files: match &config.files_s3 {
            None => FilesAt::Local,
            Some(options) => FilesAt::S3 {
                location: options.to_string(),
            },
        },
        secret: match &config.token_secret {
            None => SecretAt::DataDir,
            Some(secret) => SecretAt::Configured(Zeroizing::new(secret.as_bytes().to_vec())),
        },
    }
}

/// The current-thread runtime a one-shot command runs its async work on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `securechat backup`.
pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    crate::serve::init_tracing(crate::config::LogFormat::Text, true);
    let config = args.server.resolve()?;
    // Opening a SQLite database creates it when missing: a mistyped --data-dir would make an
    // empty backup.
    let url = config.database_url.as_str();
    if let Some(path) = securechat_store_sqlite::file_of_url(url) {
        if !std::path::Path::new(path).is_file() {
            anyhow::bail!(
                "there is no database at {path}: give the server's --data-dir (or --database-url)"
            );
        }
    }
    runtime()?.block_on(async {
        let database = crate::serve::open_database(&config).await?;
        let source = source(&config, database.clone());
        let taken = securechat_backup::take(&source, &args.out).await;
        database.close().await;
        let manifest = taken.context("the backup failed; nothing was written")?;
        print_backup(&args.out, &manifest);
        Ok(())
    })
}

fn print_backup(out: &std::path::Path, m: &Manifest) {
    let count = |table: &str| m.counts.get(table).copied().unwrap_or(0);
    println!("Backup written to {}", out.display());
    println!(
        "  taken {} by securechat {} in {:.1} s",
        m.taken_at,
        m.securechat_version,
        m.duration_ms as f64 / 1000.0
    );
    println!(
        "  database: {} ({} migrations, latest {}), {}",
        m.database.backend,
        m.database.migrations,
        m.database.latest_migration.as_deref().unwrap_or("none"),
        size(m.checksums.get(&m.database.file).map_or(0, |c| c.bytes))
    );
    println!(
        "  {} messages, {} accounts, {} sessions",
        m.messages(),
        count("users"),
        count("sessions")
    );
    match m.files.storage.as_str() {
        "s3" => println!(
            "  {} files ({}) stay in the bucket {}: its versioning or replication keeps them; \
             {} lists them",
            m.files.count,
            size(m.files.bytes),
            m.files.location.as_deref().unwrap_or("?"),
            m.files.list.as_deref().unwrap_or("?")
        ),
        _ => println!("  {} files ({})", m.files.count, size(m.files.bytes)),
    }
    if !m.files.missing.is_empty() {
        println!(
            "  {} files were deleted while the backup ran and are not in it",
            m.files.missing.len()
        );
    }
    match &m.token_secret.file {
        Some(_) => println!("  the token signing secret ({})", m.token_secret.source),
        None => println!("  no token signing secret (after a restore everyone logs in again)"),
    }
    println!(
        "  {} in all. Keep it private: it holds the token secret and the password hashes.",
        size(m.total_bytes())
    );
}

/// `securechat restore`.
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    crate::serve::init_tracing(crate::config::LogFormat::Text, true);
    let target = Target {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
    };
    let restored = runtime()?
        .block_on(securechat_backup::restore(&args.from, &target))
        .context("the restore failed")?;
    let m = &restored.manifest;
    println!(
        "Restored the backup taken {} (securechat {})",
        m.taken_at, m.securechat_version
    );
    println!(
        "  database: {}, {} messages, {} accounts (row counts match the backup)",
        restored.database,
        m.messages(),
        m.counts.get("users").copied().unwrap_or(0)
    );
    match m.files.storage.as_str() {
        "s3" => println!(
            "  files: {} in the bucket {}; start the server with the same --files-url (or a \
             bucket restored from its versions to {})",
            m.files.count,
            m.files.location.as_deref().unwrap_or("?"),
            m.taken_at
        ),
        _ => println!(
            "  files: {} into {}",
            restored.files,
            args.data_dir.join("files").display()
        ),
    }
    if restored.secret {
        println!("  token signing secret: restored (sessions of the backup's time stay valid)");
    } else {
        println!("  no token signing secret in the backup: a new one is made at start, and everyone logs in again");
    }
    let mut start = format!("securechat --data-dir {}", args.data_dir.display());
    if let Some(url) = &args.database_url {
        start.push_str(" --database-url ");
        start.push_str(&securechat_store_postgres::redacted_url(url));
    }
    println!(
        "Start the server with `{start}`: messages that expired since the backup are removed \
         before it serves anything."
    );
    Ok(())
}
