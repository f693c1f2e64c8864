//! `send`, `upload` and `delete`: seal, send over the WebSocket, wait for the server.

use std::io::Read as _;
use std::path::Path;

use anyhow::{bail, Context as _};

use securechat_client::chat::msg_id_text;
use securechat_crypto::ids::MsgId;
use securechat_proto::ids::UserId;
use securechat_proto::ws::ClientFrame;
use uuid::Uuid;

use super::context::{Client, Context};
use super::group::resolve_group;
use super::outbox::{deliver, Confirm, Confirmed};
use super::profile::SavedFile;
use super::{DeleteArgs, SendArgs, UploadArgs};

/// Shortest and longest self-destruct delays the server accepts, in seconds.
const MIN_EXPIRY_SECS: u64 = 5;
const MAX_EXPIRY_SECS: u64 = 7 * 24 * 3600;

/// The message text: the arguments joined by spaces, or standard input for `-`.
fn message_text(args: &[String]) -> anyhow::Result<String> {
    let text = if args == ["-"] {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the message from standard input")?;
        text.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        args.join(" ")
    };
    if text.trim().is_empty() {
        bail!("the message is empty");
    }
    Ok(text)
}

fn expiry_ms(expires: Option<u64>) -> anyhow::Result<Option<i64>> {
    let Some(secs) = expires else {
        return Ok(None);
    };
    if !(MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&secs) {
        bail!("--expires must be between {MIN_EXPIRY_SECS} seconds and 7 days ({MAX_EXPIRY_SECS})");
    }
    // At most 604800 s: fits.
    Ok(Some(i64::try_from(secs * 1000).unwrap_or(i64::MAX)))
}

/// Parses a message id as `send`, `listen` and `history` print it.
pub fn parse_msg_id(text: &str) -> anyhow::Result<MsgId> {
    MsgId::from_b64(text.trim()).map_err(|_| {
        anyhow::anyhow!(
            "{text:?} is not a message id (22 characters, as `send` or `history --ids` print)"
        )
    })
}

/// Whom a message goes to.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    User(UserId),
    Group(Uuid),
}

/// The conversation named by `--to`/`--with` (a username) or `--group` (a group).
pub async fn target(
    client: &mut Client,
    user: Option<&str>,
    group: Option<&str>,
) -> anyhow::Result<Target> {
    match (user, group) {
        (_, Some(group)) => Ok(Target::Group(resolve_group(client, group).await?)),
        (Some(user), None) => Ok(Target::User(client.find_peer(user).await?.id)),
        (None, None) => bail!("name a user or a group"),
    }
}

pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let text = message_text(&args.text)?;
    let expires = expiry_ms(args.expires)?;
    let mut client = Context::new(&args.opts)?.client()?;
    let result = send_text(&mut client, &args, &text, expires).await;
    let msg_id = client.finish(result)?;
    println!("{msg_id}");
    Ok(())
}

async fn send_text(
    client: &mut Client,
    args: &SendArgs,
    text: &str,
    expires: Option<i64>,
) -> anyhow::Result<String> {
    let hidden = args.hidden;
    let sealed = match target(client, args.to.as_deref(), args.group.as_deref()).await? {
        Target::User(peer) => client.chat.seal_text(peer, text, hidden, expires).await,
        Target::Group(group) => {
            client
                .chat
                .seal_group_text(group, text, hidden, expires)
                .await
        }
    }
    .map_err(|e| client.explain(e))?;
    let msg_id = msg_id_text(&sealed.msg_id);
    let frame = ClientFrame::Send {
        envelope: sealed.envelope,
    };
    deliver(client, &frame, &msg_id, &Confirm::Ack(msg_id.clone())).await?;
    Ok(msg_id)
}

/// A MIME type from the file name's extension.
fn guess_mime(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

pub async fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} is not a file", args.file.display()))?;
    let mime = args
        .mime
        .clone()
        .unwrap_or_else(|| guess_mime(&args.file).to_owned());
    let mut client = Context::new(&args.opts)?.client()?;
    let result = upload_file(&mut client, &args, &bytes, &name, &mime).await;
    let msg_id = client.finish(result)?;
    println!("{msg_id}");
    Ok(())
}

async fn upload_file(
    client: &mut Client,
    args: &UploadArgs,
    bytes: &[u8],
    name: &str,
    mime: &str,
) -> anyhow::Result<String> {
    let caption = &args.caption;
    let (sealed, group) = match target(client, args.to.as_deref(), args.group.as_deref()).await? {
        Target::User(peer) => (
            client
                .chat
                .seal_file(peer, bytes, name, mime, caption)
                .await,
            None,
        ),
        Target::Group(group) => (
            client
                .chat
                .seal_group_file(group, bytes, name, mime, caption)
                .await,
            Some(group),
        ),
    };
    let sealed = sealed.map_err(|e| client.explain(e))?;
    let msg_id = msg_id_text(&sealed.msg_id);
    let frame = ClientFrame::Send {
        envelope: sealed.envelope.clone(),
    };
    let confirmed = deliver(client, &frame, &msg_id, &Confirm::Ack(msg_id.clone())).await?;
    if let Confirmed::Ack { ts, .. } = confirmed {
        let from = client.me();
        client.files.insert(
            msg_id.clone(),
            SavedFile {
                from,
                ts,
                envelope: sealed.envelope,
                group,
            },
        );
    }
    Ok(msg_id)
}

pub async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    let target = parse_msg_id(&args.msg_id)?;
    let mut client = Context::new(&args.opts)?.client()?;
    let result = delete_message(&mut client, &args, target).await;
    client.finish(result)?;
    println!("deleted {}", msg_id_text(&target));
    Ok(())
}

async fn delete_message(
    client: &mut Client,
    args: &DeleteArgs,
    message: MsgId,
) -> anyhow::Result<()> {
    let sealed = match target(client, args.with.as_deref(), args.group.as_deref()).await? {
        Target::User(peer) => client.chat.seal_delete(peer, message).await,
        Target::Group(group) => client.chat.seal_group_delete(group, message).await,
    }
    .map_err(|e| client.explain(e))?;
    let target = message;
    let tombstone_id = msg_id_text(&sealed.msg_id);
    let frame = ClientFrame::Delete {
        envelope: sealed.envelope,
    };
    deliver(
        client,
        &frame,
        &tombstone_id,
        &Confirm::Deleted(msg_id_text(&target)),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_checked_before_anything_is_sent() {
        assert_eq!(expiry_ms(None).unwrap(), None);
        assert_eq!(expiry_ms(Some(60)).unwrap(), Some(60_000));
        assert!(expiry_ms(Some(4)).is_err());
        assert!(expiry_ms(Some(MAX_EXPIRY_SECS + 1)).is_err());
    }

    #[test]
    fn message_words_are_joined_and_empty_messages_refused() {
        let words = vec!["hello".to_owned(), "there".to_owned()];
        assert_eq!(message_text(&words).unwrap(), "hello there");
        assert!(message_text(&["  ".to_owned()]).is_err());
        assert!(parse_msg_id("nope").is_err());
    }
}
