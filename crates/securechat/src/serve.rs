//! `securechat` / `securechat serve`: start the server.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use tracing_subscriber::EnvFilter;

use securechat_backup::Database;
use securechat_server::{setup, AppState};
use securechat_store::{Schema, Store};
use securechat_store_postgres::{redacted_url, PostgresOptions, PostgresStore};
use securechat_store_sqlite::SqliteStore;

use crate::config::{Config, LogFormat, ServeArgs};
use crate::tls::{HangupHandler, ServerTls};

/// Logs to stderr for commands whose stdout is their answer (`to_stderr`), else stdout.
pub(crate) fn init_tracing(format: LogFormat, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org).
    let terminal = if to_stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let colour = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    match (format, to_stderr) {
        (LogFormat::Text, false) => builder.init(),
        (LogFormat::Text, true) => builder.with_writer(std::io::stderr).init(),
        (LogFormat::Json, false) => builder.json().init(),
        (LogFormat::Json, true) => builder.json().with_writer(std::io::stderr).init(),
    }
}

/// Opens the store a database URL names: `sqlite://PATH` (the embedded default) or
/// `postgres://…` / `postgresql://…`, with the migrations it then holds.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<(Arc<dyn Store>, Schema)> {
    let database = open_database(config).await?;
    Ok((database.shared(), database.schema().clone()))
}

/// Opens the database a URL names as its backend (backups need to know which).
pub(crate) async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let url = config.database_url.as_str();
    if let Some(path) = securechat_store_sqlite::file_of_url(url) {
        let store = SqliteStore::open(&PathBuf::from(path))
            .await
            .with_context(|| format!("cannot open the SQLite database {path}"))?;
        return Ok(Database::Sqlite(Box::new(store)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PostgresOptions {
            max_connections: config.database_pool_size,
            statement_timeout: config.database_statement_timeout,
            ..PostgresOptions::default()
        };
        let store = PostgresStore::connect(url, options)
            .await
            .with_context(|| format!("cannot use the PostgreSQL database {}", redacted_url(url)))?;
        return Ok(Database::Postgres {
            store,
            url: url.to_owned(),
        });
    }
    bail!(
        "unsupported database URL {} (expected sqlite://PATH or postgres://USER@HOST:PORT/DATABASE)",
        redacted_url(url)
    )
}

async fn shutdown_signal() {
    crate::signals::terminated().await;
    tracing::info!("shutting down");
}

async fn start(config: Config) -> anyhow::Result<()> {
    // SIGHUP from the start: it reloads TLS (or is ignored), and never ends the process.
    let hangups = HangupHandler::install();
    let data_dir = config.settings.data_dir.clone();
    setup::prepare_data_dir(&data_dir)?;
    let _lock = crate::data_lock::lock(&data_dir)?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "securechat starting");
    let secret = setup::token_secret(&data_dir, config.token_secret.as_deref().map(str::as_bytes))?;
    let database = open_database(&config).await?;
    let (store, schema) = (database.shared(), database.schema().clone());
    tracing::info!(
        version = %env!("CARGO_PKG_VERSION"),
        backend = %store.backend(),
        migrations = %schema,
        "database ready"
    );
    match config.settings.registration {
        securechat_server::settings::RegistrationMode::Invite => tracing::info!(
            "registration by invitation: the first account registers freely, the others need \
             a code from `securechat admin invite`"
        ),
        securechat_server::settings::RegistrationMode::Open => {
            tracing::info!("registration open: anyone who reaches this server may register")
        }
        securechat_server::settings::RegistrationMode::Closed => tracing::info!(
            "registration closed: nobody may register (--registration invite or open to change)"
        ),
    }
    let tls = match &config.tls {
        Some((cert, key)) => Some(
            ServerTls::load(cert, key).context("cannot serve HTTPS with --tls-cert/--tls-key")?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(data_dir = %data_dir.display(), "listening on {scheme}://{addr}");
    if tls.is_none() {
        tracing::info!(
            "serving plain HTTP: outside localhost put a reverse proxy with TLS in front \
             (browsers only give WebCrypto to secure origins)"
        );
    }
    let blobs = crate::files::open(config.files_s3.as_ref(), &data_dir).await?;
    let backups = config
        .backup
        .clone()
        .map(|schedule| (schedule, crate::backup_cmd::source(&config, database)));
    let mut settings = config.settings;
    settings.hsts = tls.is_some();
    let state = AppState::new(settings, store, blobs, &secret);
    hangups.serve(tls.clone());
    if let Some(node) = state.cluster().node_id() {
        if config.token_secret.is_none() {
            tracing::warn!(
                "cluster node without --token-secret: the secret comes from this node's data \
                 folder, and every node needs the same one"
            );
        }
        if let Err(e) = state.cluster().join(state.store()).await {
            state.store().close().await;
            return Err(e).context("this node may not join the cluster");
        }
        tracing::info!(node, "cluster node; Redis carries words between nodes");
    }
    if let Some((schedule, source)) = backups {
        securechat_backup::schedule::spawn(schedule, source, state.clone());
    }
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics = match config.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen for metrics on {address}"))?;
            tracing::info!("metrics on http://{address}/metrics (not on the main listener)");
            Some(tokio::spawn(securechat_server::serve_metrics(
                listener,
                state.clone(),
                async {
                    let _ = metrics_stopped.await;
                },
            )))
        }
        None => None,
    };
    securechat_server::serve(listener, state, tls.map(|t| t.config()), shutdown_signal()).await?;
    let _ = stop_metrics.send(());
    if let Some(metrics) = metrics {
        metrics.await.ok();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    init_tracing(config.log_format, false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(start(config))
}
