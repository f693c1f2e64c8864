//! Refusals and blocks: `admin blocks` (the security events the server records) and
//! `admin unblock` (recorded too; every running server process reads it within about a
//! second and lifts the limits in its memory).

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;

use securechat_store::security::{SecurityEvent, SecurityKind};

use super::{find_account, hours_ms, now_ms, when, with_store};
use crate::config::ServeArgs;

#[derive(Args)]
pub struct BlocksArgs {
    /// How far back to look, in hours (events are kept 30 days).
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub hours: u32,
    /// Most events shown, newest first.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub limit: u32,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["ip", "user"])))]
pub struct UnblockArgs {
    /// The client address whose limits to lift (its failed logins, the delays of every
    /// account from it, its registrations).
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// The account whose failed-login limits to lift (username or email address).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    #[command(flatten)]
    pub server: ServeArgs,
}

pub(super) async fn blocks(args: BlocksArgs) -> anyhow::Result<()> {
    let since = now_ms() - hours_ms(args.hours)?;
    let limit = args.limit.max(1);
    let (events, names) = with_store(args.server, |_, store| async move {
        let events = store
            .security_events_since(since, limit)
            .await
            .context("cannot read the security events")?;
        let names: HashMap<_, _> = store
            .list_users()
            .await
            .context("cannot read the accounts")?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect();
        Ok((events, names))
    })
    .await?;
    for row in events {
        let e = row.event;
        let account = e
            .user
            .map(|u| names.get(&u).cloned().unwrap_or_else(|| u.to_string()))
            .or(e.login);
        if args.json {
            println!(
                "{}",
                json!({
                    "id": row.id,
                    "at": e.at,
                    "kind": e.kind.as_str(),
                    "ip": e.ip,
                    "account": account,
                    "user_id": e.user.map(|u| u.to_string()),
                    "count": e.count,
                })
            );
        } else {
            let mut line = format!("{}  {:<27}", when(e.at), e.kind.as_str());
            if let Some(ip) = &e.ip {
                line.push_str(&format!("  ip {ip}"));
            }
            if let Some(account) = &account {
                line.push_str(&format!("  account {account}"));
            }
            if e.count > 1 {
                line.push_str(&format!("  ×{}", e.count));
            }
            println!("{line}");
        }
    }
    Ok(())
}

pub(super) async fn unblock(args: UnblockArgs) -> anyhow::Result<()> {
    let ip = match &args.ip {
        Some(text) => Some(
            text.trim()
                .parse::<IpAddr>()
                .with_context(|| format!("{text:?} is not an IP address"))?
                .to_canonical()
                .to_string(),
        ),
        None => None,
    };
    let what = with_store(args.server, |_, store| async move {
        let (what, event) = match (ip, &args.user) {
            (Some(ip), _) => (
                format!("address {ip}"),
                SecurityEvent {
                    at: now_ms(),
                    kind: SecurityKind::UnblockIp,
                    ip: Some(ip),
                    user: None,
                    login: None,
                    count: 1,
                },
            ),
            (None, Some(name)) => {
                let user = find_account(store.as_ref(), name).await?;
                (
                    format!("account {}", user.username),
                    SecurityEvent {
                        at: now_ms(),
                        kind: SecurityKind::UnblockAccount,
                        ip: None,
                        user: Some(user.id),
                        login: None,
                        count: 1,
                    },
                )
            }
            (None, None) => bail!("give --ip IP or --user USER"),
        };
        store
            .record_security_events(&[event])
            .await
            .context("cannot record the unblock")?;
        Ok(what)
    })
    .await?;
    tracing::info!("admin: {what} unblocked");
    println!(
        "Unblocked the {what}: the running server lifts its login limits within a second (on \
         every node of a cluster)."
    );
    Ok(())
}
