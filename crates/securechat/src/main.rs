//! The `securechat` binary. Without a subcommand it runs the server; the other subcommands
//! are the command-line client (`cli`).

mod admin;
mod arg_errors;
mod backup_cmd;
mod cli;
mod config;
mod data_lock;
mod files;
mod healthcheck;
mod migrate_store;
mod serve;
mod signals;
mod tls;

use clap::{CommandFactory as _, Parser, Subcommand};

/// securechat: self-hosted, end-to-end encrypted chat.
///
/// Without a subcommand, runs the server with the options below. Every option can also be set
/// by its environment variable or in the TOML file given by --config (command line beats
/// environment, which beats the file).
///
/// The other subcommands are the client: `securechat register`, `send`, `listen`, … (see
/// `securechat help COMMAND`).
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    serve: config::ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<config::ServeArgs>),
    /// Print an example configuration file with every option and its default.
    DefaultConfig,
    /// Copy the server's SQLite database into an empty PostgreSQL database, and verify the
    /// copy (stop the server first).
    MigrateStore(migrate_store::MigrateStoreArgs),
    /// Look after accounts from the server's machine (users, sessions, invitations, password
    /// resets, blocks), against the server's database; works while the server runs.
    #[command(subcommand)]
    Admin(Box<admin::AdminCommand>),
    /// Take a consistent backup of the server (database, files, token secret, manifest with
    /// checksums) into a new folder; works while the server runs.
    Backup(Box<backup_cmd::BackupArgs>),
    /// Restore a backup into a new, empty data folder (and an empty PostgreSQL database),
    /// after verifying every checksum.
    Restore(backup_cmd::RestoreArgs),
    /// Ask the server on this machine for /healthz (exit 0 when it answers 200): the
    /// container image's HEALTHCHECK.
    Healthcheck(healthcheck::HealthcheckArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => match arg_errors::from_environment(&error, &Cli::command(), &args) {
            Some(message) => {
                eprint!("{message}");
                std::process::exit(2);
            }
            None => error.exit(),
        },
    };
    match cli.command {
        None => serve::run(cli.serve),
        Some(Command::Serve(args)) => serve::run(*args),
        Some(Command::DefaultConfig) => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Some(Command::MigrateStore(args)) => migrate_store::run(args),
        Some(Command::Admin(command)) => admin::run(*command),
        Some(Command::Backup(args)) => backup_cmd::backup(*args),
        Some(Command::Restore(args)) => backup_cmd::restore(args),
        Some(Command::Healthcheck(args)) => healthcheck::run(args),
        Some(Command::Client(command)) => cli::run(command),
    }
}
