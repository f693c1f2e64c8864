//! `history` (a conversation from the server, decrypted, oldest first) and `download` (a
//! file message's file, decrypted and checked).

use std::collections::HashSet;

use anyhow::bail;
use sha2::{Digest as _, Sha256};

use securechat_client::chat::{msg_id_text, Received};
use securechat_client::ClientError;
use securechat_crypto::envelope::parse_header;
use securechat_crypto::ids::MsgId;
use securechat_crypto::CryptoError;
use securechat_proto::ids::UserId;
use securechat_proto::messages::{HistoryItem, HISTORY_MAX_LIMIT};

use super::context::{Client, Context};
use super::events::{invalid_item, is_connection_error, message_item};
use super::output::{size, Printer};
use super::profile::{write_private, SavedFile};
use super::send::{parse_msg_id, target, Target};
use super::{DownloadArgs, HistoryArgs};

/// Most pages `download` reads per conversation while looking for a message.
const SEARCH_PAGES: usize = 50;

pub async fn history(args: HistoryArgs) -> anyhow::Result<()> {
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    let mut client = Context::new(&args.opts)?.client()?;
    let printer = Printer {
        json: args.json,
        stderr: false,
        ids: args.ids,
        arrows_for: None,
        profile_flag: client.ctx.profile_flag(),
    };
    let result = show_history(&mut client, &args, &printer).await;
    client.finish(result)
}

/// The latest `limit` messages with a user or in a group, oldest first.
async fn fetch(client: &Client, target: Target, limit: u32) -> anyhow::Result<Vec<HistoryItem>> {
    let mut items = Vec::new();
    let mut before = None;
    loop {
        let have = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let want = limit.saturating_sub(have).min(HISTORY_MAX_LIMIT);
        if want == 0 {
            break;
        }
        let api = &client.chat.api;
        let page = match target {
            Target::User(peer) => api.history(peer, before, want).await,
            Target::Group(group) => api.group_history(group, before, want).await,
        }
        .map_err(|e| client.explain(e))?;
        let got = page.messages.len();
        items.extend(page.messages);
        match page.next_before {
            Some(next) if got > 0 => before = Some(next),
            _ => break,
        }
    }
    items.reverse();
    Ok(items)
}

async fn show_history(
    client: &mut Client,
    args: &HistoryArgs,
    printer: &Printer,
) -> anyhow::Result<()> {
    let target = target(client, args.with.as_deref(), args.group.as_deref()).await?;
    let group = match target {
        Target::Group(group) => Some(group),
        Target::User(_) => None,
    };
    let items = fetch(client, target, args.limit).await?;
    if items.is_empty() && !args.json {
        match (&args.with, &args.group) {
            (Some(with), _) => eprintln!("no messages with {with}"),
            (_, Some(group)) => eprintln!("no messages in group {group}"),
            _ => {}
        }
    }
    // The server could list one envelope twice (history skips the replay check): each
    // message id is shown once.
    let mut shown_ids = HashSet::new();
    for item in items {
        match client
            .chat
            .open_history_in(group, item.from, item.ts, &item.envelope)
            .await
        {
            Ok(opened) => {
                let id = msg_id_text(&opened.msg_id);
                if !shown_ids.insert(id.clone()) {
                    eprintln!("! the server listed message {id} more than once; it is shown once");
                    continue;
                }
                if let Some(shown) =
                    message_item(client, item.seq, item.ts, &item.envelope, opened, group).await
                {
                    printer.print(&shown);
                }
            }
            Err(ClientError::Crypto(CryptoError::Expired)) => {}
            Err(e) if is_connection_error(&e) => return Err(client.explain(e)),
            Err(e) => printer.print(&invalid_item(client, item.seq, item.from, &e).await),
        }
    }
    Ok(())
}

pub async fn download(args: DownloadArgs) -> anyhow::Result<()> {
    let target = parse_msg_id(&args.msg_id)?;
    if args.out.exists() && !args.force {
        bail!(
            "{} exists: choose another --out, or add --force to replace it",
            args.out.display()
        );
    }
    let mut client = Context::new(&args.opts)?.client()?;
    let result = fetch_file(&mut client, &args, target).await;
    client.finish(result)
}

/// Looks for a file message in the conversations on the server.
async fn search(
    client: &mut Client,
    with: Option<&str>,
    target: MsgId,
) -> anyhow::Result<Option<SavedFile>> {
    let peers: Vec<UserId> = match with {
        Some(name) => vec![client.find_peer(name).await?.id],
        None => {
            let me = client.me();
            let users = client.users().await?;
            users
                .into_iter()
                .map(|u| u.id)
                .filter(|id| *id != me)
                .collect()
        }
    };
    for peer in peers {
        let mut before = None;
        for _ in 0..SEARCH_PAGES {
            let page = client
                .chat
                .api
                .history(peer, before, HISTORY_MAX_LIMIT)
                .await
                .map_err(|e| client.explain(e))?;
            let found = page.messages.iter().find(|item| {
                parse_header(&item.envelope).is_ok_and(|header| header.msg_id == target)
            });
            if let Some(item) = found {
                return Ok(Some(SavedFile {
                    from: item.from,
                    ts: item.ts,
                    envelope: item.envelope.clone(),
                    group: None,
                }));
            }
            match page.next_before {
                Some(next) if !page.messages.is_empty() => before = Some(next),
                _ => break,
            }
        }
    }
    Ok(None)
}

async fn fetch_file(client: &mut Client, args: &DownloadArgs, target: MsgId) -> anyhow::Result<()> {
    let id = msg_id_text(&target);
    let saved = match client.files.get(&id) {
        Some(saved) => saved.clone(),
        None => search(client, args.with.as_deref(), target)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no message {id} found: it may have been deleted or have expired (run \
                     `securechat listen` or `securechat history` to see your messages)"
                )
            })?,
    };
    let opened = client
        .chat
        .open_history_in(saved.group, saved.from, saved.ts, &saved.envelope)
        .await
        .map_err(|e| client.explain(e))?;
    let Received::File { file, .. } = opened.content else {
        bail!("message {id} is not a file message");
    };
    client.files.insert(id.clone(), saved);
    let bytes = client.chat.fetch_file(&file).await.map_err(|e| match e {
        ClientError::Http { status: 404, .. } => anyhow::anyhow!(
            "the file of message {id} is no longer on the server (deleted or expired)"
        ),
        e => client.explain(e),
    })?;
    write_private(&args.out, &bytes)?;
    eprintln!(
        "saved {} ({}) to {}",
        super::output::clean(&file.name),
        size(bytes.len() as u64),
        args.out.display()
    );
    println!(
        "{}  {}",
        hex::encode(Sha256::digest(&bytes)),
        args.out.display()
    );
    Ok(())
}
