//! Invitations and password-reset codes: `admin invite`, `admin invites`,
//! `admin reset-password`.

use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use securechat_server::auth::codes::{self, LinkKind, OneTimeCode};
use securechat_store::model::{NewInvite, NewReset};

use super::{find_account, hours_ms, now_ms, open, when};
use crate::config::ServeArgs;

#[derive(Args)]
pub struct InviteArgs {
    /// Hours until the invitation expires.
    #[arg(long, value_name = "HOURS", default_value_t = 168)]
    pub hours: u32,
    /// A note for yourself (who it is for).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub note: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Args)]
pub struct ListArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Args)]
pub struct ResetArgs {
    /// The account's username or email address.
    #[arg(value_name = "USER")]
    pub user: String,
    /// Hours until the code expires.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub hours: u32,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

pub(super) async fn invite(args: InviteArgs) -> anyhow::Result<()> {
    let lifetime = hours_ms(args.hours)?;
    let (config, store) = open(args.server).await?;
    let code = OneTimeCode::generate();
    let now = now_ms();
    store
        .create_invite(NewInvite {
            code_hash: code.hash,
            note: args.note.clone(),
            created_at: now,
            expires_at: now + lifetime,
        })
        .await
        .context("cannot store the invitation")?;
    store.close().await;
    tracing::info!(note = %args.note, expires_at = now + lifetime, "admin: invitation made");
    let link = config
        .settings
        .public_url
        .as_deref()
        .map(|url| codes::link(url, LinkKind::Invite, &code.code));
    if args.json {
        println!(
            "{}",
            json!({"code": code.code, "link": link, "expires_at": now + lifetime, "note": args.note})
        );
        return Ok(());
    }
    println!(
        "Invitation code (single use, until {}): {}",
        when(now + lifetime),
        code.code
    );
    match link {
        Some(link) => println!("Link: {link}"),
        None => println!(
            "Link: <the server's address>/#invite={} (set --public-url to print it whole)",
            code.code
        ),
    }
    Ok(())
}

pub(super) async fn invites(args: ListArgs) -> anyhow::Result<()> {
    let (_, store) = open(args.server).await?;
    let invites = store.list_invites().await;
    store.close().await;
    let now = now_ms();
    for invite in invites.context("cannot read the invitations")? {
        let state = match (invite.used_at, invite.used_by) {
            (Some(at), Some(user)) => format!("used {} by user {user}", when(at)),
            (Some(at), None) => format!("used {}", when(at)),
            (None, _) if invite.expires_at <= now => "expired".to_owned(),
            (None, _) => format!("open until {}", when(invite.expires_at)),
        };
        if args.json {
            println!(
                "{}",
                json!({
                    "id": hex::encode(&invite.code_hash[..6]),
                    "note": invite.note,
                    "created_at": invite.created_at,
                    "expires_at": invite.expires_at,
                    "used_at": invite.used_at,
                    "used_by": invite.used_by.map(|u| u.to_string()),
                })
            );
        } else {
            println!(
                "{}  made {}  {}  {}",
                hex::encode(&invite.code_hash[..6]),
                when(invite.created_at),
                state,
                invite.note
            );
        }
    }
    Ok(())
}

pub(super) async fn reset_password(args: ResetArgs) -> anyhow::Result<()> {
    let lifetime = hours_ms(args.hours)?;
    let (config, store) = open(args.server).await?;
    let user = match find_account(store.as_ref(), &args.user).await {
        Ok(user) => user,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let code = OneTimeCode::generate();
    let now = now_ms();
    let stored = store
        .create_reset(NewReset {
            code_hash: code.hash,
            user: user.id,
            created_at: now,
            expires_at: now + lifetime,
        })
        .await;
    store.close().await;
    stored.context("cannot store the reset code")?;
    tracing::info!(username = %user.username, user.id = %user.id, "admin: password-reset code made");
    let link = config
        .settings
        .public_url
        .as_deref()
        .map(|url| codes::link(url, LinkKind::Reset, &code.code));
    if args.json {
        println!(
            "{}",
            json!({"username": user.username, "code": code.code, "link": link, "expires_at": now + lifetime})
        );
        return Ok(());
    }
    println!(
        "Password-reset code for {} (single use, until {}): {}",
        user.username,
        when(now + lifetime),
        code.code
    );
    match link {
        Some(link) => println!("Link: {link}"),
        None => println!(
            "Link: <the server's address>/#reset={} (set --public-url to print it whole)",
            code.code
        ),
    }
    println!(
        "Give it to {} in person or over a channel you trust. The password changes; their keys \
         do not: they still need their key file to read their history on a new device.",
        user.username
    );
    Ok(())
}
