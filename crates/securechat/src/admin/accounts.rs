//! Accounts: `admin users`, `admin disable`, `admin enable`, `admin delete`.

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;

use securechat_store::model::AccountSummary;

use super::{find_account, now_ms, when, with_store};
use crate::config::ServeArgs;

#[derive(Args)]
pub struct UsersArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Args)]
pub struct AccountArgs {
    /// The account's username or email address.
    #[arg(value_name = "USER")]
    pub user: String,
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// The account's username or email address.
    #[arg(value_name = "USER")]
    pub user: String,
    /// Confirm: everything the account sent disappears for both sides, with its files.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

/// What an account is now, in one word.
fn state(account: &AccountSummary) -> &'static str {
    if account.deleted_at.is_some() {
        "deleted"
    } else if account.disabled_at.is_some() {
        "disabled"
    } else {
        "active"
    }
}

pub(super) async fn users(args: UsersArgs) -> anyhow::Result<()> {
    let accounts = with_store(args.server, |_, store| async move {
        store
            .account_summaries(now_ms())
            .await
            .context("cannot read the accounts")
    })
    .await?;
    if !args.json {
        println!(
            "{:<24} {:<36} {:<20} {:<20} {:>8}  STATE",
            "USERNAME", "ID", "CREATED", "LAST SEEN", "SESSIONS"
        );
    }
    for account in &accounts {
        if args.json {
            println!(
                "{}",
                json!({
                    "username": account.username,
                    "id": account.id.to_string(),
                    "created_at": account.created_at,
                    "last_seen": account.last_seen,
                    "active_sessions": account.active_sessions,
                    "disabled_at": account.disabled_at,
                    "deleted_at": account.deleted_at,
                    "state": state(account),
                })
            );
        } else {
            println!(
                "{:<24} {:<36} {:<20} {:<20} {:>8}  {}",
                account.username,
                account.id.to_string(),
                when(account.created_at),
                account.last_seen.map_or_else(|| "never".to_owned(), when),
                account.active_sessions,
                state(account)
            );
        }
    }
    Ok(())
}

pub(super) async fn disable(args: AccountArgs) -> anyhow::Result<()> {
    let (user, revoked) = with_store(args.server, |_, store| async move {
        let user = find_account(store.as_ref(), &args.user).await?;
        let revoked = store
            .disable_user(user.id, now_ms())
            .await
            .context("cannot disable the account")?;
        Ok((user, revoked))
    })
    .await?;
    tracing::info!(
        username = %user.username,
        user.id = %user.id,
        sessions = revoked.len(),
        "admin: account disabled"
    );
    println!(
        "Disabled {}: {} session(s) ended; they cannot log in until `securechat admin enable {}`.",
        user.username,
        revoked.len(),
        user.username
    );
    Ok(())
}

pub(super) async fn enable(args: AccountArgs) -> anyhow::Result<()> {
    let (user, was_disabled) = with_store(args.server, |_, store| async move {
        let user = find_account(store.as_ref(), &args.user).await?;
        let enabled = store
            .enable_user(user.id)
            .await
            .context("cannot enable the account")?;
        Ok((user, enabled))
    })
    .await?;
    if !was_disabled {
        println!("{} was not disabled.", user.username);
        return Ok(());
    }
    tracing::info!(username = %user.username, user.id = %user.id, "admin: account enabled");
    println!("Enabled {}: they can log in again.", user.username);
    Ok(())
}

pub(super) async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    if !args.yes {
        bail!(
            "deleting {} removes every message they sent, for both sides, and their files; \
             their username stays reserved. Add --yes to delete the account",
            args.user
        );
    }
    let (user, removal) = with_store(args.server, |config, store| async move {
        let user = find_account(store.as_ref(), &args.user).await?;
        // The file store first: one that cannot be reached stops the deletion before it
        // changes anything.
        let blobs = crate::files::open(config.files_s3.as_ref(), &config.settings.data_dir).await?;
        let removal = store
            .delete_user(user.id, now_ms())
            .await
            .context("cannot delete the account")?;
        let carried = removal.removals.iter().flat_map(|r| r.files.iter());
        for file in carried.chain(removal.files.iter()) {
            blobs.remove(file).await;
        }
        Ok((user, removal))
    })
    .await?;
    let files = removal.files.len()
        + removal
            .removals
            .iter()
            .map(|r| r.files.len())
            .sum::<usize>();
    tracing::info!(
        username = %user.username,
        user.id = %user.id,
        messages = removal.removals.len(),
        files,
        sessions = removal.sessions.len(),
        "admin: account deleted"
    );
    println!(
        "Deleted {}: {} message(s) and {} file(s) removed for both sides (a file the storage \
         could not delete is named in the log), {} session(s) ended. The username stays reserved.",
        user.username,
        removal.removals.len(),
        files,
        removal.sessions.len()
    );
    Ok(())
}
