//! Turning what the server sends into things to show: messages are verified and decrypted,
//! file messages remembered for `download`, and the stream position advanced.

use serde::Serialize;

use securechat_client::chat::{msg_id_text, Opened, Received};
use securechat_client::ClientError;
use securechat_crypto::envelope::parse_header;
use securechat_crypto::ids::MsgId;
use securechat_crypto::CryptoError;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{DeleteReason, ServerEvent};
use uuid::Uuid;

use super::context::Client;
use super::profile::SavedFile;

/// Something to show.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A text message.
    Message(MessageItem),
    /// A file message (`text` is its caption).
    File(MessageItem),
    /// A message was removed.
    Deleted(DeletedItem),
    /// A read receipt.
    Read(ReadItem),
    /// Someone came online or went offline.
    Presence(PresenceItem),
    /// A group's membership changed (verified, or why not).
    GroupChanged(GroupChangedItem),
    /// A member named a group (or renamed it).
    GroupNamed(GroupNamedItem),
    /// A message that could not be verified or decrypted.
    Invalid(InvalidItem),
    /// Everything missed has been shown.
    CaughtUp { seq: u64 },
}

/// The group an event belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRef {
    pub id: Uuid,
    /// Its name as its members set it, when known here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct GroupChangedItem {
    pub group: Option<GroupRef>,
    /// What it is now, as verified here.
    pub change: String,
}

#[derive(Debug, Serialize)]
pub struct GroupNamedItem {
    pub seq: u64,
    pub group: Uuid,
    pub name: String,
    pub color: String,
    pub from: UserId,
    pub from_username: String,
}

#[derive(Debug, Serialize)]
pub struct MessageItem {
    pub seq: u64,
    pub msg_id: String,
    pub from: UserId,
    pub from_username: String,
    /// The other side when I sent it (from another session or in history), else me; in a
    /// group, me.
    pub to: UserId,
    pub to_username: String,
    /// The group it was sent in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    /// Server receive time, Unix ms.
    pub ts: i64,
    pub text: String,
    pub hidden: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
}

#[derive(Debug, Serialize)]
pub struct FileInfo {
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub mime: String,
}

#[derive(Debug, Serialize)]
pub struct DeletedItem {
    pub seq: u64,
    pub msg_id: String,
    /// The removed message's sender.
    pub from: UserId,
    pub from_username: String,
    /// `deleted` or `expired`.
    pub reason: &'static str,
    /// For deletions: whether the sender-signed tombstone verified against the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
}

#[derive(Debug, Serialize)]
pub struct ReadItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The conversation's other user.
    pub peer: UserId,
    pub peer_username: String,
    /// Who read: `peer` (they read mine), or me (on another device).
    pub by: UserId,
    pub by_username: String,
    /// Messages up to this server time (Unix ms) are read.
    pub up_to: i64,
    /// In a group: `peer` = `by` is the member who read the group's messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
}

#[derive(Debug, Serialize)]
pub struct PresenceItem {
    pub changes: Vec<PresenceChange>,
}

#[derive(Debug, Serialize)]
pub struct PresenceChange {
    pub user_id: UserId,
    pub username: String,
    pub online: bool,
}

#[derive(Debug, Serialize)]
pub struct InvalidItem {
    pub seq: u64,
    pub from: UserId,
    pub from_username: String,
    pub error: String,
    /// The sender's identity key changed: a possible impersonation.
    pub identity_changed: bool,
}

impl Item {
    /// Text and file messages (what `listen --count` counts).
    pub fn is_message(&self) -> bool {
        matches!(self, Self::Message(_) | Self::File(_))
    }
}

/// What became of an event.
pub enum Handled {
    Show(Item),
    /// Nothing to show (e.g. a message this device already has).
    Nothing,
    /// Not a stream event: ready, ack, error, pong.
    Other(ServerEvent),
}

/// Whether an error is the network's or the session's (retry or stop) rather than the
/// message's (show it as invalid and go on).
pub fn is_connection_error(error: &ClientError) -> bool {
    match error {
        ClientError::Transport(_)
        | ClientError::UntrustedCertificate(_)
        | ClientError::Trust(_)
        | ClientError::NotLoggedIn
        | ClientError::SessionStore(_) => true,
        ClientError::Http { status, code, .. } => {
            matches!(status, 401 | 429) || *status >= 500 || code == "invalid_grant"
        }
        _ => false,
    }
}

/// The other user of the conversation an envelope travels in.
pub fn conversation_peer(me: UserId, from: UserId, envelope: &Envelope) -> UserId {
    if from != me {
        return me;
    }
    parse_header(envelope)
        .ok()
        .and_then(|h| h.recipients.into_iter().find(|u| *u != me))
        .unwrap_or(me)
}

/// The group reference of an event in `group`.
pub fn group_ref(client: &Client, group: Option<Uuid>) -> Option<GroupRef> {
    group.map(|id| GroupRef {
        id,
        name: client.chat.group_name(id).map(|(name, _)| name.clone()),
    })
}

/// Shows an opened message; file messages are remembered for `download`.
pub async fn message_item(
    client: &mut Client,
    seq: u64,
    ts: i64,
    envelope: &Envelope,
    opened: Opened,
    group: Option<Uuid>,
) -> Option<Item> {
    let to = match group {
        Some(_) => client.me(),
        None => conversation_peer(client.me(), opened.from, envelope),
    };
    let msg_id = msg_id_text(&opened.msg_id);
    let (text, file) = match opened.content {
        Received::Text { body } => (body, None),
        Received::File { caption, file } => {
            client.files.insert(
                msg_id.clone(),
                SavedFile {
                    from: opened.from,
                    ts,
                    envelope: envelope.clone(),
                    group,
                },
            );
            let info = FileInfo {
                file_id: file.file_id.to_b64(),
                name: file.name.clone(),
                size: file.size,
                mime: file.mime.clone(),
            };
            (caption, Some(info))
        }
        // Tombstones arrive as `deleted` events, and receipts are not sent as envelopes.
        Received::Delete { .. } | Received::Receipt { .. } => return None,
        Received::GroupMeta { name, color } => {
            let group = group?;
            return Some(Item::GroupNamed(GroupNamedItem {
                seq,
                group,
                name,
                color,
                from: opened.from,
                from_username: client.name_of(opened.from).await,
            }));
        }
    };
    let item = MessageItem {
        seq,
        msg_id,
        from: opened.from,
        from_username: client.name_of(opened.from).await,
        to,
        to_username: client.name_of(to).await,
        ts,
        text,
        hidden: opened.hidden,
        expires_at: opened.expires_at,
        file,
        group: group_ref(client, group),
    };
    Some(if item.file.is_some() {
        Item::File(item)
    } else {
        Item::Message(item)
    })
}

/// An envelope that did not open, to show.
pub async fn invalid_item(
    client: &mut Client,
    seq: u64,
    from: UserId,
    error: &ClientError,
) -> Item {
    Item::Invalid(InvalidItem {
        seq,
        from,
        from_username: client.name_of(from).await,
        error: error.to_string(),
        identity_changed: matches!(error, ClientError::Crypto(CryptoError::IdentityKeyChanged)),
    })
}

/// Handles one server event. Network and session errors are returned before the stream
/// position moves, so the event comes again after reconnecting.
pub async fn handle(client: &mut Client, event: ServerEvent) -> Result<Handled, ClientError> {
    match event {
        ServerEvent::Message {
            seq,
            from,
            ts,
            envelope,
            group,
            ..
        } => {
            let handled = match client.chat.open_in(group, from, ts, &envelope).await {
                Ok(opened) => match message_item(client, seq, ts, &envelope, opened, group).await {
                    Some(item) => Handled::Show(item),
                    None => Handled::Nothing,
                },
                // Sent from this device, or already shown; or expired meanwhile.
                Err(ClientError::Crypto(CryptoError::Replay | CryptoError::Expired)) => {
                    Handled::Nothing
                }
                Err(e) if is_connection_error(&e) => return Err(e),
                Err(e) => Handled::Show(invalid_item(client, seq, from, &e).await),
            };
            client.chat.saw_seq(seq);
            Ok(handled)
        }
        ServerEvent::Deleted {
            msg_id,
            seq,
            from,
            reason,
            envelope,
            group,
        } => {
            let verified = match (reason, envelope) {
                (DeleteReason::Expired, _) => None,
                (DeleteReason::Deleted, None) => Some(false),
                // Only `from`'s tombstone for exactly this message verifies: an old one the
                // server replays against another message id does not.
                (DeleteReason::Deleted, Some(tombstone)) => match MsgId::from_b64(&msg_id) {
                    Ok(target) => {
                        match client
                            .chat
                            .verify_deletion_in(group, from, &target, &tombstone)
                            .await
                        {
                            Ok(()) => Some(true),
                            Err(e) if is_connection_error(&e) => return Err(e),
                            Err(_) => Some(false),
                        }
                    }
                    Err(_) => Some(false),
                },
            };
            client.files.remove(&msg_id);
            client.chat.saw_seq(seq);
            Ok(Handled::Show(Item::Deleted(DeletedItem {
                seq,
                msg_id,
                from,
                from_username: client.name_of(from).await,
                reason: match reason {
                    DeleteReason::Deleted => "deleted",
                    DeleteReason::Expired => "expired",
                },
                verified,
                group: group_ref(client, group),
            })))
        }
        ServerEvent::Read {
            peer,
            by,
            up_to,
            seq,
            group,
        } => {
            if let Some(seq) = seq {
                client.chat.saw_seq(seq);
            }
            Ok(Handled::Show(Item::Read(ReadItem {
                seq,
                peer,
                peer_username: client.name_of(peer).await,
                by,
                by_username: client.name_of(by).await,
                up_to,
                group: group_ref(client, group),
            })))
        }
        ServerEvent::Presence { online, offline } => {
            let mut changes = Vec::with_capacity(online.len() + offline.len());
            for (users, is_online) in [(online, true), (offline, false)] {
                for user_id in users {
                    changes.push(PresenceChange {
                        user_id,
                        username: client.name_of(user_id).await,
                        online: is_online,
                    });
                }
            }
            Ok(Handled::Show(Item::Presence(PresenceItem { changes })))
        }
        ServerEvent::CaughtUp { seq } => {
            // A stream shorter than the saved position (a server restored from a backup)
            // resumes where it really ends.
            if seq < client.chat.state.last_seq {
                client.chat.state.last_seq = seq;
            }
            client.chat.saw_seq(seq);
            Ok(Handled::Show(Item::CaughtUp { seq }))
        }
        ServerEvent::Group { group_id, seq } => {
            // Verify the new change now; one that does not verify is shown, not taken.
            let change = match client.chat.sync_group(group_id).await {
                Ok(state) => format!(
                    "now {} members (change {})",
                    state.members().len(),
                    state.seq()
                ),
                Err(e) if is_connection_error(&e) => return Err(e),
                Err(e) => format!("change {seq} not accepted: {e}"),
            };
            Ok(Handled::Show(Item::GroupChanged(GroupChangedItem {
                group: group_ref(client, Some(group_id)),
                change,
            })))
        }
        other => Ok(Handled::Other(other)),
    }
}
