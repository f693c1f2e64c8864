//! `group create|add|remove|admin|unadmin|leave|list|show`: groups whose membership is a
//! chain of changes signed by their admins (docs/PROTOCOL.md §17), verified here from the
//! first change before anything is sealed to its members.

use anyhow::{bail, Context as _};
use uuid::Uuid;

use securechat_client::chat::msg_id_text;
use securechat_client::groups::GroupAction;
use securechat_crypto::fingerprint::short_key_id;
use securechat_crypto::group::GroupState;
use securechat_proto::ws::ClientFrame;

use super::context::{Client, Context};
use super::outbox::{deliver, Confirm};
use super::output::{clean, table};
use super::{GroupChangeArgs, GroupCommand, GroupCreateArgs, GroupLeaveArgs, PlainArgs};

/// Colours a group gets when its creator names none (picked from its id).
const COLOURS: [&str; 8] = [
    "#2f6fde", "#1f9d55", "#c2410c", "#9333ea", "#0e7490", "#be185d", "#4d7c0f", "#b45309",
];

pub async fn run(command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create(args) => create(args).await,
        GroupCommand::Add(args) => change(args, GroupAction::Add).await,
        GroupCommand::Remove(args) => change(args, GroupAction::Remove).await,
        GroupCommand::Admin(args) => change(args, GroupAction::Admin).await,
        GroupCommand::Unadmin(args) => change(args, GroupAction::Unadmin).await,
        GroupCommand::Leave(args) => leave(args).await,
        GroupCommand::List(args) => list(args).await,
        GroupCommand::Show(args) => show(args).await,
    }
}

/// A group by id, or by the name its members gave it (as known here).
pub async fn resolve_group(client: &mut Client, text: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = text.parse::<Uuid>() {
        return Ok(id);
    }
    // Groups this account is in but has not seen yet are learnt first.
    if let Ok(groups) = client.chat.api.my_groups().await {
        for g in groups {
            if let Ok(id) = g.group_id.parse::<Uuid>() {
                if client.chat.group_state(id).ok().flatten().is_none() {
                    let _ = client.chat.sync_group(id).await;
                }
            }
        }
    }
    let wanted = text.to_lowercase();
    let matches: Vec<Uuid> = client
        .chat
        .known_groups()
        .into_iter()
        .filter(|id| {
            client
                .chat
                .group_name(*id)
                .is_some_and(|(name, _)| name.to_lowercase() == wanted)
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => bail!(
            "no group named {text:?}: `securechat group list` shows your groups and their ids"
        ),
        _ => bail!("several groups are named {text:?}: name it by id (`securechat group list`)"),
    }
}

/// The colour for a group: the one asked for, or one picked from its id.
fn colour(group: Uuid, asked: Option<&str>) -> String {
    asked.map_or_else(
        || COLOURS[usize::from(group.as_bytes()[0]) % COLOURS.len()].to_owned(),
        str::to_lowercase,
    )
}

async fn create(args: GroupCreateArgs) -> anyhow::Result<()> {
    let mut client = Context::new(&args.opts)?.client()?;
    let result = async {
        let mut members = Vec::new();
        for name in &args.members {
            members.push(client.find_peer(name).await?.id);
        }
        let group = client
            .chat
            .create_group(&members)
            .await
            .map_err(|e| client.explain(e))?;
        if let Some(name) = &args.name {
            let color = colour(group, args.color.as_deref());
            send_name(&mut client, group, name, &color).await?;
        }
        Ok(group)
    }
    .await;
    let group = client.finish(result)?;
    println!("{group}");
    Ok(())
}

/// Sends the group's name and colour to its members, and remembers them here.
async fn send_name(
    client: &mut Client,
    group: Uuid,
    name: &str,
    color: &str,
) -> anyhow::Result<()> {
    let sealed = client
        .chat
        .seal_group_meta(group, name, color)
        .await
        .map_err(|e| client.explain(e))?;
    let msg_id = msg_id_text(&sealed.msg_id);
    let frame = ClientFrame::Send {
        envelope: sealed.envelope,
    };
    deliver(client, &frame, &msg_id, &Confirm::Ack(msg_id.clone())).await?;
    client.chat.remember_group_name(group, name, color);
    Ok(())
}

async fn change(args: GroupChangeArgs, action: GroupAction) -> anyhow::Result<()> {
    let mut client = Context::new(&args.opts)?.client()?;
    let result = async {
        let group = resolve_group(&mut client, &args.group).await?;
        let mut users = Vec::new();
        for name in &args.users {
            users.push(client.find_user(name).await?.id);
        }
        let state = client
            .chat
            .change_group(group, action, &users)
            .await
            .map_err(|e| client.explain(e))?;
        // New members cannot read the name sent before they joined: send it again.
        if action == GroupAction::Add {
            if let Some((name, color)) = client.chat.group_name(group).cloned() {
                send_name(&mut client, group, &name, &color).await?;
            }
        }
        Ok(state)
    }
    .await;
    let state = client.finish(result)?;
    println!(
        "change {} stored; the group has {} members",
        state.seq(),
        state.members().len()
    );
    Ok(())
}

async fn leave(args: GroupLeaveArgs) -> anyhow::Result<()> {
    let mut client = Context::new(&args.opts)?.client()?;
    let result = async {
        let group = resolve_group(&mut client, &args.group).await?;
        client
            .chat
            .change_group(group, GroupAction::Leave, &[])
            .await
            .map_err(|e| client.explain(e))
    }
    .await;
    client.finish(result)?;
    println!("you left the group");
    Ok(())
}

/// A group's name as known here, or its members' names.
async fn title(client: &mut Client, group: Uuid, state: &GroupState) -> String {
    if let Some((name, _)) = client.chat.group_name(group) {
        return clean(name);
    }
    let mut names = Vec::new();
    for user in state.members().keys() {
        names.push(clean(&client.name_of(*user).await));
    }
    names.join(", ")
}

async fn list(args: PlainArgs) -> anyhow::Result<()> {
    let mut client = Context::new(&args.opts)?.client()?;
    let result = async {
        let groups = client
            .chat
            .api
            .my_groups()
            .await
            .map_err(|e| client.explain(e))?;
        let me = client.me();
        let mut rows = Vec::new();
        for g in groups {
            let id: Uuid = g
                .group_id
                .parse()
                .context("the server sent a bad group id")?;
            let row = match client.chat.sync_group(id).await {
                Ok(state) => vec![
                    id.to_string(),
                    title(&mut client, id, &state).await,
                    state.members().len().to_string(),
                    if state.is_admin(&me) {
                        "admin"
                    } else {
                        "member"
                    }
                    .to_owned(),
                ],
                Err(e) => vec![
                    id.to_string(),
                    format!("(refused: {e})"),
                    String::new(),
                    String::new(),
                ],
            };
            rows.push(row);
        }
        Ok(rows)
    }
    .await;
    let rows = client.finish(result)?;
    if rows.is_empty() {
        eprintln!("you are in no group: `securechat group create --name NAME USER…` makes one");
    } else {
        print!("{}", table(&["GROUP", "NAME", "MEMBERS", "YOU"], &rows));
    }
    Ok(())
}

async fn show(args: GroupLeaveArgs) -> anyhow::Result<()> {
    let mut client = Context::new(&args.opts)?.client()?;
    let result = async {
        let group = resolve_group(&mut client, &args.group).await?;
        let state = client
            .chat
            .sync_group(group)
            .await
            .map_err(|e| client.explain(e))?;
        let mut rows = Vec::new();
        for (user, member) in state.members() {
            rows.push(vec![
                clean(&client.name_of(*user).await),
                if member.admin { "admin" } else { "member" }.to_owned(),
                short_key_id(&member.ik),
                user.to_string(),
            ]);
        }
        let title = title(&mut client, group, &state).await;
        Ok((title, state.seq(), rows))
    }
    .await;
    let (title, seq, rows) = client.finish(result)?;
    println!(
        "{title}  (group {}, membership verified through change {seq})",
        args.group
    );
    print!("{}", table(&["MEMBER", "ROLE", "KEY ID", "USER ID"], &rows));
    Ok(())
}
