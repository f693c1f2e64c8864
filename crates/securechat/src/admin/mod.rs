//! `securechat admin …`: looking after accounts from the server's machine, against the
//! configured database (the same options as the server: `--data-dir`, `--database-url`,
//! `--config`), also while the server runs. Every action is logged (one line on standard
//! error naming the action and its target).
//!
//! A running server notices what these commands write within about a second (its database
//! poll, `securechat_server::cluster::poll`): the sockets of revoked sessions close, peers of
//! a deleted account get its `deleted` events, unblocks lift its in-memory limits.

mod accounts;
mod blocks;
mod codes;
mod sessions;

use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::Subcommand;

use securechat_server::http::token::canonical_login;
use securechat_store::model::UserRow;
use securechat_store::Store;

use crate::config::{Config, ServeArgs};

/// The admin subcommands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Make a single-use invitation: prints its code, and a link with --public-url.
    Invite(codes::InviteArgs),
    /// List the invitations, newest first (codes are not kept, only whether each was used).
    Invites(codes::ListArgs),
    /// Make a one-time password-reset code for an account: prints the code, and a link with
    /// --public-url. The account's keys do not change.
    ResetPassword(codes::ResetArgs),
    /// List the accounts: when each was made and last seen, its active sessions, whether it
    /// is disabled or deleted.
    Users(accounts::UsersArgs),
    /// Disable an account: it cannot log in, and its sessions and sockets end at once.
    Disable(accounts::AccountArgs),
    /// Enable a disabled account again.
    Enable(accounts::AccountArgs),
    /// Delete an account with every message it sent (for both sides) and its files.
    Delete(accounts::DeleteArgs),
    /// List the active sessions, of one account or of all.
    Sessions(sessions::SessionsArgs),
    /// End one session, or every session of an account (their sockets close at once).
    Revoke(sessions::RevokeArgs),
    /// Show recent refusals and blocks: the IP rule, failed-login and registration limits.
    Blocks(blocks::BlocksArgs),
    /// Lift the failed-login limits of an address or an account on the running server(s).
    Unblock(blocks::UnblockArgs),
}

/// Runs an admin command.
pub fn run(command: AdminCommand) -> anyhow::Result<()> {
    crate::serve::init_tracing(crate::config::LogFormat::Text, true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match command {
            AdminCommand::Invite(args) => codes::invite(args).await,
            AdminCommand::Invites(args) => codes::invites(args).await,
            AdminCommand::ResetPassword(args) => codes::reset_password(args).await,
            AdminCommand::Users(args) => accounts::users(args).await,
            AdminCommand::Disable(args) => accounts::disable(args).await,
            AdminCommand::Enable(args) => accounts::enable(args).await,
            AdminCommand::Delete(args) => accounts::delete(args).await,
            AdminCommand::Sessions(args) => sessions::sessions(args).await,
            AdminCommand::Revoke(args) => sessions::revoke(args).await,
            AdminCommand::Blocks(args) => blocks::blocks(args).await,
            AdminCommand::Unblock(args) => blocks::unblock(args).await,
        }
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn hours_ms(hours: u32) -> anyhow::Result<i64> {
    if hours == 0 {
        bail!("--hours must be at least 1");
    }
    Ok(i64::from(hours) * 3_600_000)
}

/// Resolves the server's options and opens its database.
async fn open(args: ServeArgs) -> anyhow::Result<(Config, Arc<dyn Store>)> {
    let config = args.resolve()?;
    let (store, _) = crate::serve::open_store(&config).await?;
    Ok((config, store))
}

/// Opens the server's database, runs `work` on it, and closes it whatever `work` answered.
async fn with_store<T, F, Fut>(args: ServeArgs, work: F) -> anyhow::Result<T>
where
    F: FnOnce(Config, Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (config, store) = open(args).await?;
    let result = work(config, store.clone()).await;
    store.close().await;
    result
}

/// The live account with this username or email address.
async fn find_account(store: &dyn Store, name: &str) -> anyhow::Result<UserRow> {
    // The same reading of a name as a login's, so both find the same account.
    let found = match canonical_login(name) {
        Some(login) => store
            .find_user_by_login(&login)
            .await
            .context("cannot read the accounts")?,
        None => None,
    };
    found.with_context(|| format!("no account {name:?} on this server"))
}
