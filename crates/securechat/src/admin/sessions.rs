//! Sessions: `admin sessions`, `admin revoke`.

use std::collections::HashMap;

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;

use securechat_proto::ids::SessionId;

use super::{find_account, now_ms, when, with_store};
use crate::config::ServeArgs;

#[derive(Args)]
pub struct SessionsArgs {
    /// Only this account's sessions (username or email address).
    #[arg(value_name = "USER")]
    pub user: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["session", "user"])))]
pub struct RevokeArgs {
    /// The session's id (as `admin sessions` prints it).
    #[arg(value_name = "SESSION_ID")]
    pub session: Option<String>,
    /// Every session of this account (username or email address).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    #[command(flatten)]
    pub server: ServeArgs,
}

pub(super) async fn sessions(args: SessionsArgs) -> anyhow::Result<()> {
    let (sessions, names) = with_store(args.server, |_, store| async move {
        let user = match &args.user {
            Some(name) => Some(find_account(store.as_ref(), name).await?.id),
            None => None,
        };
        let sessions = store
            .active_sessions(user, now_ms())
            .await
            .context("cannot read the sessions")?;
        let names: HashMap<_, _> = store
            .list_users()
            .await
            .context("cannot read the accounts")?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect();
        Ok((sessions, names))
    })
    .await?;
    if !args.json {
        println!(
            "{:<36} {:<24} {:<39} {:<20} EXPIRES",
            "SESSION", "USER", "ADDRESS", "CREATED"
        );
    }
    for session in sessions {
        let user = names.get(&session.user_id).map_or("?", String::as_str);
        if args.json {
            println!(
                "{}",
                json!({
                    "id": session.id.to_string(),
                    "user": user,
                    "user_id": session.user_id.to_string(),
                    "ip": session.ip,
                    "created_at": session.created_at,
                    "expires_at": session.expires_at,
                })
            );
        } else {
            println!(
                "{:<36} {:<24} {:<39} {:<20} {}",
                session.id.to_string(),
                user,
                session.ip,
                when(session.created_at),
                when(session.expires_at)
            );
        }
    }
    Ok(())
}

pub(super) async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let session = match &args.session {
        Some(text) => Some(text.trim().parse::<SessionId>().map_err(|_| {
            anyhow::anyhow!("{text:?} is not a session id (a UUID, as `admin sessions` prints it)")
        })?),
        None => None,
    };
    if let Some(session) = session {
        let revoked = with_store(args.server, |_, store| async move {
            store
                .revoke_session(session, now_ms())
                .await
                .context("cannot revoke the session")
        })
        .await?;
        if !revoked {
            bail!("no session {session} to revoke (unknown, or ended already)");
        }
        tracing::info!(session = %session, "admin: session revoked");
        println!("Revoked session {session}; its sockets close within a second.");
        return Ok(());
    }
    let Some(name) = args.user else {
        bail!("give a session id or --user USER");
    };
    let (user, revoked) = with_store(args.server, |_, store| async move {
        let user = find_account(store.as_ref(), &name).await?;
        let revoked = store
            .revoke_user_sessions(user.id, None, now_ms())
            .await
            .context("cannot revoke the sessions")?;
        Ok((user, revoked))
    })
    .await?;
    tracing::info!(
        username = %user.username,
        user.id = %user.id,
        sessions = revoked.len(),
        "admin: every session of an account revoked"
    );
    println!(
        "Revoked {} session(s) of {}; their sockets close within a second.",
        revoked.len(),
        user.username
    );
    Ok(())
}
