//! End-to-end encrypted 1:1 conversations: pinning contacts' identity keys (trust on first
//! use), sealing messages, files and tombstones, and opening what arrives.

use std::collections::{HashMap, HashSet};

use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use securechat_crypto::binding::{parse_identity_key, verify_published_key};
use securechat_crypto::envelope::{
    open, parse_header, seal, Content, Delivery, Kind, MessageMeta, OpenedMessage, OutgoingMessage,
    Receiver, RecipientKey, RoutingHeader, SealedEnvelope, Sender,
};
use securechat_crypto::file_stream::{decrypt_file, encrypt_file, FileDescriptor};
use securechat_crypto::group::GroupState;
use securechat_crypto::identity::IdentityKey;
use securechat_crypto::ids::{ConvId, FileId, MsgId};
use securechat_crypto::CryptoError;
use securechat_proto::b64;
use securechat_proto::envelope::Envelope;
use securechat_proto::groups::SignedGroupChange;
use securechat_proto::ids::UserId;
use securechat_proto::keys::{KeyStatus, UserKeys};
use uuid::Uuid;

use crate::{now_ms, Api, ClientError, KeyRing};

/// What a client remembers between runs besides its keys. Persisted by the CLI.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChatState {
    /// Pinned identity keys (base64url) by user: trust on first use.
    pins: HashMap<UserId, String>,
    /// Accepted message ids (base64url): the replay defence.
    seen: HashSet<String>,
    /// Messages accepted, by id: what authorises a later tombstone.
    metas: HashMap<String, (ConvIdText, UserId)>,
    /// Next `sender_ctr` per conversation.
    counters: HashMap<ConvIdText, u64>,
    /// The last stream seq this client holds (resume point).
    pub last_seq: u64,
    /// The membership chains this client verified, by group id (each change as it travels).
    #[serde(default)]
    pub(crate) groups: HashMap<Uuid, Vec<SignedGroupChange>>,
    /// Each group's name and colour (from the latest meta message accepted), by group id.
    #[serde(default)]
    pub(crate) group_names: HashMap<Uuid, (String, String)>,
    /// The states each held chain leads through (one per change), verified once per chain
    /// length instead of at every use; not saved.
    #[serde(skip)]
    pub(crate) verified: std::sync::Mutex<HashMap<Uuid, std::sync::Arc<Vec<GroupState>>>>,
}

type ConvIdText = String;

/// A verified, decrypted message.
pub enum Received {
    Text {
        body: String,
    },
    File {
        caption: String,
        file: FileDescriptor,
    },
    /// The sender deleted one of their messages.
    Delete {
        target: MsgId,
    },
    Receipt {
        target: MsgId,
    },
    /// A group's name and colour, set by a member.
    GroupMeta {
        name: String,
        color: String,
    },
}

/// An opened message with its metadata.
pub struct Opened {
    pub msg_id: MsgId,
    pub from: UserId,
    pub hidden: bool,
    pub content: Received,
    pub expires_at: Option<i64>,
}

/// Whom an uploaded file is for.
pub(crate) enum FileFor {
    User(UserId),
    Group(Uuid),
}

/// A conversation engine for one logged-in user.
pub struct Chat {
    pub api: Api,
    pub keys: KeyRing,
    pub state: ChatState,
}

fn conv_text(conv: &ConvId) -> String {
    conv.0.hyphenated().to_string()
}

impl Chat {
    pub fn new(api: Api, keys: KeyRing, state: ChatState) -> Self {
        Self { api, keys, state }
    }

    fn me(&self) -> UserId {
        self.keys.user_id()
    }

    fn pinned(&self, user: &UserId) -> Option<IdentityKey> {
        if *user == self.me() {
            return Some(self.keys.identity().public());
        }
        let text = self.state.pins.get(user)?;
        parse_identity_key(text).ok()
    }

    /// Fetches a contact's keys, pins the identity key on first use (refusing a changed one),
    /// and returns their active encryption keys whose bindings verify.
    pub async fn contact_keys(&mut self, peer: UserId) -> Result<Vec<RecipientKey>, ClientError> {
        let keys = self.api.user_keys(peer).await?;
        let identity = parse_identity_key(&keys.identity_key)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        match self.pinned(&peer) {
            Some(pinned) if pinned != identity => {
                return Err(CryptoError::IdentityKeyChanged.into())
            }
            Some(_) => {}
            None => {
                self.state.pins.insert(peer, keys.identity_key.clone());
            }
        }
        let active = active_recipient_keys(&keys, &identity)?;
        Ok(active)
    }

    /// Pins `user`'s identity key (trust on first use, from a group's verified chain).
    pub(crate) fn pin(&mut self, user: UserId, ik: &[u8; 32]) {
        self.state.pins.insert(user, b64::encode(ik));
    }

    /// The pinned identity key of a contact (after `contact_keys`).
    pub fn pinned_identity(&self, user: &UserId) -> Option<IdentityKey> {
        self.pinned(user)
    }

    async fn seal_content(
        &mut self,
        peer: UserId,
        content: &Content,
        hidden: bool,
        expires_in_ms: Option<i64>,
    ) -> Result<SealedEnvelope, ClientError> {
        let recipients = self.contact_keys(peer).await?;
        let conv = ConvId::direct(&self.me(), &peer);
        self.seal_for(conv, &recipients, content, hidden, expires_in_ms)
    }

    /// Seals `content` in conversation `conv` for the recipients' keys and my own.
    pub(crate) fn seal_for(
        &mut self,
        conv: ConvId,
        recipients: &[RecipientKey],
        content: &Content,
        hidden: bool,
        expires_in_ms: Option<i64>,
    ) -> Result<SealedEnvelope, ClientError> {
        let counter = self.state.counters.entry(conv_text(&conv)).or_insert(0);
        *counter += 1;
        let sender_ctr = *counter;
        let own_keys = self.keys.active_public();
        let now = now_ms();
        let sealed = seal(
            &mut OsRng,
            &Sender {
                user_id: self.me(),
                identity: self.keys.identity(),
                own_keys: &own_keys,
            },
            &OutgoingMessage {
                msg_id: Some(MsgId::time_ordered(now, &mut OsRng)),
                conv_id: conv,
                sender_ctr,
                sent_at_ms: now,
                expires_in_ms,
                hidden,
                content,
                recipients,
            },
        )?;
        let id = sealed.msg_id.to_b64();
        self.state.seen.insert(id.clone());
        self.state.metas.insert(id, (conv_text(&conv), self.me()));
        Ok(sealed)
    }

    /// Seals a text message for `peer`.
    pub async fn seal_text(
        &mut self,
        peer: UserId,
        body: &str,
        hidden: bool,
        expires_in_ms: Option<i64>,
    ) -> Result<SealedEnvelope, ClientError> {
        let content = Content::Text {
            body: body.to_owned(),
        };
        self.seal_content(peer, &content, hidden, expires_in_ms)
            .await
    }

    /// Seals a tombstone deleting my message `target` in the conversation with `peer`.
    pub async fn seal_delete(
        &mut self,
        peer: UserId,
        target: MsgId,
    ) -> Result<SealedEnvelope, ClientError> {
        self.seal_content(peer, &Content::Delete { target }, false, None)
            .await
    }

    /// Encrypts and uploads a file for `peer`, then seals the file message carrying its key.
    pub async fn seal_file(
        &mut self,
        peer: UserId,
        bytes: &[u8],
        name: &str,
        mime: &str,
        caption: &str,
    ) -> Result<SealedEnvelope, ClientError> {
        let content = self
            .file_content(FileFor::User(peer), bytes, name, mime, caption)
            .await?;
        self.seal_content(peer, &content, false, None).await
    }

    /// Encrypts and uploads a file, and makes the file message content carrying its key.
    pub(crate) async fn file_content(
        &self,
        to: FileFor,
        bytes: &[u8],
        name: &str,
        mime: &str,
        caption: &str,
    ) -> Result<Content, ClientError> {
        let (ciphertext, mut file) = encrypt_file(&mut OsRng, bytes, mime, name)?;
        let uploaded = match to {
            FileFor::User(user) => self.api.upload(user, ciphertext).await?,
            FileFor::Group(group) => self.api.upload_for_group(group, ciphertext).await?,
        };
        file.file_id = FileId::from_b64(&uploaded.file_id)?;
        Ok(Content::File {
            body: caption.to_owned(),
            file,
        })
    }

    /// Downloads and decrypts a received file, checking its ciphertext hash.
    pub async fn fetch_file(&self, file: &FileDescriptor) -> Result<Vec<u8>, ClientError> {
        let ciphertext = self.api.download(&file.file_id.to_b64()).await?;
        let digest: [u8; 32] = Sha256::digest(&ciphertext).into();
        if digest != file.ct_sha256 {
            return Err(ClientError::Invalid(
                "the file's ciphertext hash does not match".into(),
            ));
        }
        Ok(decrypt_file(file, &ciphertext)?.to_vec())
    }

    /// Verifies and decrypts a delivered envelope (`from` and `ts` as the server said),
    /// fetching and pinning the sender's identity key on first contact.
    pub async fn open(
        &mut self,
        from: UserId,
        ts: i64,
        envelope: &Envelope,
    ) -> Result<Opened, ClientError> {
        self.open_in(None, from, ts, envelope).await
    }

    /// [`Chat::open`] for an envelope delivered in `group` (the `group` of a `message`
    /// event), or in a 1:1 conversation (`None`). A group message opens only when its sender
    /// and everyone it is wrapped for are members of the group as this client verified it.
    pub async fn open_in(
        &mut self,
        group: Option<Uuid>,
        from: UserId,
        ts: i64,
        envelope: &Envelope,
    ) -> Result<Opened, ClientError> {
        let opened = self.verify(group, from, ts, envelope, true).await?;
        let accepted = self.accept(group, opened)?;
        if let (Some(group), Received::GroupMeta { name, color }) = (group, &accepted.content) {
            self.state
                .group_names
                .insert(group, (name.clone(), color.clone()));
        }
        Ok(accepted)
    }

    /// Verifies and decrypts a stored envelope for display (history, or a saved file message
    /// opened again to download its file): every check of [`Chat::open`] runs except the
    /// replay check, so a message already accepted opens again. Nothing is marked seen; the
    /// message's metadata is kept so a later tombstone for it can be authorised. Tombstones
    /// are refused here: they must go through [`Chat::open`].
    pub async fn open_history(
        &mut self,
        from: UserId,
        ts: i64,
        envelope: &Envelope,
    ) -> Result<Opened, ClientError> {
        self.open_history_in(None, from, ts, envelope).await
    }

    /// [`Chat::open_history`] for a message of `group` (or of a 1:1 conversation: `None`).
    pub async fn open_history_in(
        &mut self,
        group: Option<Uuid>,
        from: UserId,
        ts: i64,
        envelope: &Envelope,
    ) -> Result<Opened, ClientError> {
        let opened = self.verify(group, from, ts, envelope, false).await?;
        let header = &opened.header;
        if header.kind == Kind::Delete {
            return Err(ClientError::Invalid(
                "a tombstone cannot be opened as history".into(),
            ));
        }
        // The first message seen under an id keeps it: another sender's later copy of the id
        // cannot take over what authorises a tombstone.
        self.state
            .metas
            .entry(header.msg_id.to_b64())
            .or_insert((conv_text(&header.conv_id), header.sender));
        Ok(Self::opened(opened))
    }

    /// The verification procedure, with or without the replay check.
    async fn verify(
        &mut self,
        group: Option<Uuid>,
        from: UserId,
        ts: i64,
        envelope: &Envelope,
        check_replay: bool,
    ) -> Result<OpenedMessage, ClientError> {
        let header = parse_header(envelope)?;
        let conv_id = match group {
            Some(group) => {
                // A live message must fit the membership as it is now; a stored one (history,
                // a deletion) the membership at some change of the chain (it may come from,
                // or be wrapped for, a member since removed).
                self.admit_group_message(group, &header, check_replay)
                    .await?;
                ConvId(group)
            }
            None => self.direct_conversation(from, &header),
        };
        if self.pinned(&from).is_none() {
            self.contact_keys(from).await?;
        }
        let delivery = Delivery {
            sender: from,
            conv_id,
            server_received_at_ms: ts,
        };
        let opened = open(
            envelope,
            &Receiver {
                user_id: self.me(),
                keys: self.keys.pairs(),
            },
            &delivery,
            now_ms(),
            |user| self.pinned(user),
            |id| check_replay && self.state.seen.contains(&id.to_b64()),
        )?;
        Ok(opened)
    }

    /// The 1:1 conversation an envelope arrived in: with the sender, or for my own copies
    /// with the other party named in the header.
    fn direct_conversation(&self, from: UserId, header: &RoutingHeader) -> ConvId {
        let other = if from == self.me() {
            header
                .recipients
                .iter()
                .copied()
                .find(|u| *u != self.me())
                .unwrap_or(from)
        } else {
            from
        };
        ConvId::direct(&self.me(), &other)
    }

    /// Checks that `tombstone`, delivered as the removal of message `target` sent by `from`
    /// (a `deleted` event), is `from`'s signed deletion of exactly that message. Every step of
    /// [`Chat::open`] runs except the replay check (a deletion already shown may come again:
    /// my own, or after a reconnect), then the tombstone's `ref` must be `target` and step 9
    /// must authorise it against what this device accepted for `target`. An old tombstone
    /// that the server replays against another message, or another sender's, fails here.
    pub async fn verify_deletion(
        &mut self,
        from: UserId,
        target: &MsgId,
        tombstone: &Envelope,
    ) -> Result<(), ClientError> {
        self.verify_deletion_in(None, from, target, tombstone).await
    }

    /// [`Chat::verify_deletion`] for a message of `group` (`None`: a 1:1 conversation). In a
    /// group the tombstone may also be signed by an admin of the group as verified here.
    pub async fn verify_deletion_in(
        &mut self,
        group: Option<Uuid>,
        from: UserId,
        target: &MsgId,
        tombstone: &Envelope,
    ) -> Result<(), ClientError> {
        // The tombstone's own sender (`from` names the deleted message's sender).
        let signer = parse_header(tombstone)?.sender;
        let opened = self
            .verify(group, signer, now_ms(), tombstone, false)
            .await?;
        if opened.header.kind != Kind::Delete {
            return Err(CryptoError::NotATombstone.into());
        }
        if opened.header.reference != Some(*target) {
            return Err(CryptoError::TombstoneTargetMismatch.into());
        }
        if group.is_none() && signer != from {
            return Err(CryptoError::TombstoneNotBySender.into());
        }
        match (self.authorize_tombstone(group, &opened), group) {
            // Signed by someone made an admin since the chain held here: verify the newer
            // changes, then judge again.
            (Err(ClientError::Crypto(CryptoError::TombstoneNotBySender)), Some(g)) => {
                self.sync_group(g).await?;
                self.authorize_tombstone(group, &opened)?;
            }
            (result, _) => result?,
        }
        self.state.seen.insert(opened.header.msg_id.to_b64());
        Ok(())
    }

    /// Step 9: the tombstone's sender sent the message it names, in the same conversation,
    /// as this device accepted it; in a group, an admin of the group as verified here may
    /// delete any member's message.
    fn authorize_tombstone(
        &self,
        group: Option<Uuid>,
        opened: &OpenedMessage,
    ) -> Result<(), ClientError> {
        let target = opened
            .header
            .reference
            .ok_or_else(|| ClientError::Invalid("a tombstone without ref".into()))?;
        let (conv, sender) = self
            .state
            .metas
            .get(&target.to_b64())
            .cloned()
            .ok_or_else(|| ClientError::Invalid("the tombstone names an unknown message".into()))?;
        let target_meta = MessageMeta {
            msg_id: target,
            conv_id: ConvId(
                Uuid::parse_str(&conv).map_err(|e| ClientError::Invalid(e.to_string()))?,
            ),
            sender,
        };
        match securechat_crypto::envelope::authorize_delete(opened, &target_meta) {
            Err(CryptoError::TombstoneNotBySender)
                if group.is_some_and(|g| self.is_group_admin(g, &opened.header.sender)) =>
            {
                Ok(())
            }
            result => result.map(|_| ()).map_err(Into::into),
        }
    }

    fn accept(
        &mut self,
        group: Option<Uuid>,
        opened: OpenedMessage,
    ) -> Result<Opened, ClientError> {
        let header = &opened.header;
        let id = header.msg_id.to_b64();
        if header.kind == Kind::Delete {
            self.authorize_tombstone(group, &opened)?;
        }
        self.state.seen.insert(id.clone());
        self.state
            .metas
            .entry(id)
            .or_insert((conv_text(&header.conv_id), header.sender));
        Ok(Self::opened(opened))
    }

    fn opened(opened: OpenedMessage) -> Opened {
        let (msg_id, from) = (opened.header.msg_id, opened.header.sender);
        let content = match opened.content {
            Content::Text { body } => Received::Text { body },
            Content::File { body, file } => Received::File {
                caption: body,
                file,
            },
            Content::Delete { target } => Received::Delete { target },
            Content::Receipt { target } => Received::Receipt { target },
            Content::GroupMeta { name, color } => Received::GroupMeta { name, color },
        };
        Opened {
            msg_id,
            from,
            hidden: opened.hidden,
            content,
            expires_at: opened.expires_at_ms,
        }
    }

    /// Records the highest stream seq seen.
    pub fn saw_seq(&mut self, seq: u64) {
        self.state.last_seq = self.state.last_seq.max(seq);
    }
}

/// The active encryption keys of a directory entry whose binding signatures verify under
/// `identity` (the contact's pinned identity key); a substituted key fails here. Errs when
/// a binding does not verify or no active key is left.
pub fn active_recipient_keys(
    keys: &UserKeys,
    identity: &IdentityKey,
) -> Result<Vec<RecipientKey>, ClientError> {
    let active = keys
        .encryption_keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .map(|record| {
            verify_published_key(identity, &keys.user_id, &record.published())
                .map(|verified| RecipientKey::verified(keys.user_id, &verified))
                .map_err(|r| ClientError::Crypto(r.error))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if active.is_empty() {
        return Err(ClientError::Invalid(
            "the contact has no valid active key".into(),
        ));
    }
    Ok(active)
}

/// The base64url text of a message id.
pub fn msg_id_text(id: &MsgId) -> String {
    b64::encode(id.0)
}
