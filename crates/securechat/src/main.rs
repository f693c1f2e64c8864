//! The `securechat` binary. Without a subcommand it runs the server.

mod config;
mod serve;

use clap::{Parser, Subcommand};

/// securechat: self-hosted, end-to-end encrypted chat.
///
/// Without a subcommand, runs the server with the options below. Every option can also be set
/// by its environment variable or in the TOML file given by --config (command line beats
/// environment, which beats the file).
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve::run(cli.serve),
        Some(Command::Serve(args)) => serve::run(*args),
        Some(Command::DefaultConfig) => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
    }
}
