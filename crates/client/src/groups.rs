//! Groups on the client: the membership chain verified here (docs/PROTOCOL.md §17), the
//! changes this user makes to it, and sealing to exactly the members it verified. The server
//! stores and serves the chain but cannot extend it: every state used here was verified from
//! the group's first change, with each member's identity key checked against the pins.

use std::sync::Arc;

use uuid::Uuid;

use securechat_crypto::envelope::{Content, RecipientKey, RoutingHeader, SealedEnvelope};
use securechat_crypto::group::{Change, ChangeMember, GroupState, Op, SignedChange};
use securechat_crypto::ids::{ConvId, MsgId};
use securechat_crypto::CryptoError;
use securechat_proto::b64;
use securechat_proto::groups::SignedGroupChange;
use securechat_proto::ids::UserId;

use crate::chat::{Chat, FileFor};
use crate::{now_ms, ClientError};

/// How many times a change is made again on a newer head after another admin's came first.
const CHANGE_ATTEMPTS: usize = 3;

fn to_signed(change: &SignedGroupChange) -> Result<SignedChange, ClientError> {
    let bytes = b64::decode(&change.change)
        .map_err(|_| ClientError::Invalid("a group change is not base64url".into()))?;
    let sig = b64::decode_array(&change.sig)
        .map_err(|_| ClientError::Invalid("a group change signature is not 64 bytes".into()))?;
    Ok(SignedChange { bytes, sig })
}

fn to_wire(change: &SignedChange) -> SignedGroupChange {
    SignedGroupChange {
        change: b64::encode(&change.bytes),
        sig: b64::encode(change.sig),
    }
}

/// Verifies a whole held chain: the state after each change.
fn verify_states(chain: &[SignedGroupChange]) -> Result<Vec<GroupState>, ClientError> {
    let mut states: Vec<GroupState> = Vec::with_capacity(chain.len());
    for change in chain {
        let signed = to_signed(change)?;
        let next = match states.last() {
            None => GroupState::genesis(&signed)?,
            Some(state) => state.apply(&signed)?,
        };
        states.push(next);
    }
    Ok(states)
}

/// Whether a message fits the membership: `now` (a live message), the latest state only;
/// otherwise any state of the chain.
fn judge(states: &[GroupState], header: &RoutingHeader, now: bool) -> Result<(), CryptoError> {
    let latest = states.last().ok_or(CryptoError::GroupSenderNotMember {
        user: header.sender,
    })?;
    if !now
        && states
            .iter()
            .any(|s| s.admit(&header.sender, &header.recipients).is_ok())
    {
        return Ok(());
    }
    latest.admit(&header.sender, &header.recipients)
}

/// What a membership change does, as the user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAction {
    Add,
    Remove,
    Admin,
    Unadmin,
    Leave,
}

impl Chat {
    /// The group's state as verified here (`None`: never synced).
    pub fn group_state(&self, group: Uuid) -> Result<Option<GroupState>, ClientError> {
        Ok(self
            .group_states(group)?
            .and_then(|states| states.last().cloned()))
    }

    /// Every state the held chain leads through, one per change, verified (once for each
    /// length of the chain: a chain only grows).
    fn group_states(&self, group: Uuid) -> Result<Option<Arc<Vec<GroupState>>>, ClientError> {
        let Some(chain) = self.state.groups.get(&group) else {
            return Ok(None);
        };
        let cached = self
            .state
            .verified
            .lock()
            .ok()
            .and_then(|cache| cache.get(&group).cloned());
        if let Some(states) = cached.filter(|s| s.len() == chain.len()) {
            return Ok(Some(states));
        }
        let states = Arc::new(verify_states(chain)?);
        if let Ok(mut cache) = self.state.verified.lock() {
            cache.insert(group, states.clone());
        }
        Ok(Some(states))
    }

    /// The group's name and colour, from the latest meta message accepted here.
    pub fn group_name(&self, group: Uuid) -> Option<&(String, String)> {
        self.state.group_names.get(&group)
    }

    /// Remembers a group's name and colour (set by this user).
    pub fn remember_group_name(&mut self, group: Uuid, name: &str, color: &str) {
        self.state
            .group_names
            .insert(group, (name.to_owned(), color.to_owned()));
    }

    /// Groups verified here, by id.
    pub fn known_groups(&self) -> Vec<Uuid> {
        let mut groups: Vec<Uuid> = self.state.groups.keys().copied().collect();
        groups.sort_unstable();
        groups
    }

    pub(crate) fn is_group_admin(&self, group: Uuid, user: &UserId) -> bool {
        matches!(self.group_state(group), Ok(Some(state)) if state.is_admin(user))
    }

    /// Fetches the changes made since the chain held here, verifies each on the held state
    /// (the whole chain on first sight), pins members seen for the first time from it and
    /// refuses a member whose key differs from the pinned one; keeps the longer chain.
    pub async fn sync_group(&mut self, group: Uuid) -> Result<GroupState, ClientError> {
        let mut chain = self.state.groups.get(&group).cloned().unwrap_or_default();
        let mut state = self.group_state(group)?;
        let fetched = match self.api.group_changes(group, chain.len() as u64).await {
            Err(ClientError::Http { status: 404, .. }) => {
                return Err(ClientError::Invalid(
                    "no such group, or you are not a member of it".into(),
                ))
            }
            other => other?,
        };
        for change in fetched.changes {
            let signed = to_signed(&change)?;
            state = Some(match state {
                None => GroupState::genesis(&signed)?,
                Some(state) => state.apply(&signed)?,
            });
            chain.push(change);
        }
        let state = state.ok_or_else(|| ClientError::Invalid("the group has no changes".into()))?;
        if state.group_id() != ConvId(group) {
            return Err(ClientError::Invalid(
                "the chain served is another group's".into(),
            ));
        }
        self.pin_members(&state)?;
        self.state.groups.insert(group, chain);
        Ok(state)
    }

    /// Checks every member's key against the pins; pins members seen for the first time.
    fn pin_members(&mut self, state: &GroupState) -> Result<(), ClientError> {
        state.check_pins(|user| self.pinned_identity(user))?;
        for (user, member) in state.members() {
            if self.pinned_identity(user).is_none() {
                self.pin(*user, &member.ik.to_bytes());
            }
        }
        Ok(())
    }

    /// The group message `header` may be opened: its sender and everyone it is wrapped for
    /// are members as verified here (synced again once when they are not, in case the
    /// membership grew since). A live message (`now`) must fit the latest state; a stored
    /// one, any state of the chain.
    pub(crate) async fn admit_group_message(
        &mut self,
        group: Uuid,
        header: &RoutingHeader,
        now: bool,
    ) -> Result<(), ClientError> {
        if header.conv_id != ConvId(group) {
            return Err(CryptoError::ConversationMismatch.into());
        }
        if let Some(states) = self.group_states(group)? {
            if judge(&states, header, now).is_ok() {
                return Ok(());
            }
        }
        self.sync_group(group).await?;
        let states = self.group_states(group)?.unwrap_or_default();
        Ok(judge(&states, header, now)?)
    }

    /// Creates a group of me (its admin) and `members`, each pinned from the directory
    /// first. Returns the new group's id.
    pub async fn create_group(&mut self, members: &[UserId]) -> Result<Uuid, ClientError> {
        let group = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut named = vec![ChangeMember {
            user_id: self.keys.user_id(),
            ik: self.keys.identity().public(),
            admin: true,
        }];
        for user in members {
            if named.iter().any(|m| m.user_id == *user) {
                continue;
            }
            named.push(ChangeMember {
                user_id: *user,
                ik: self.identity_of(*user).await?,
                admin: false,
            });
        }
        let change = Change {
            group_id: ConvId(group),
            seq: 0,
            prev: None,
            author: self.keys.user_id(),
            author_ik: self.keys.identity().public(),
            at_ms: now_ms(),
            op: Op::Create,
            members: named,
        };
        let signed = change.sign(self.keys.identity())?;
        GroupState::genesis(&signed)?;
        self.api.post_group_change(group, &to_wire(&signed)).await?;
        self.state.groups.insert(group, vec![to_wire(&signed)]);
        Ok(group)
    }

    /// A user's identity key, pinned (from the directory on first contact).
    async fn identity_of(
        &mut self,
        user: UserId,
    ) -> Result<securechat_crypto::identity::IdentityKey, ClientError> {
        self.contact_keys(user).await?;
        self.pinned_identity(&user)
            .ok_or_else(|| ClientError::Invalid(format!("no identity key pinned for {user}")))
    }

    /// Makes a membership change on the group's newest head; when another admin's change
    /// came first, verifies it and makes the change again on it (if it still applies).
    /// Returns the state after the change.
    pub async fn change_group(
        &mut self,
        group: Uuid,
        action: GroupAction,
        users: &[UserId],
    ) -> Result<GroupState, ClientError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let state = self.sync_group(group).await?;
            let signed = self.make_change(&state, action, users).await?;
            // Refused here with the rule's own words before the server sees it.
            let next = state.apply(&signed)?;
            match self.api.post_group_change(group, &to_wire(&signed)).await {
                Ok(_) => {
                    if let Some(chain) = self.state.groups.get_mut(&group) {
                        chain.push(to_wire(&signed));
                    }
                    return Ok(next);
                }
                Err(ClientError::Http { code, .. })
                    if code == "group_conflict" && attempt < CHANGE_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn make_change(
        &mut self,
        state: &GroupState,
        action: GroupAction,
        users: &[UserId],
    ) -> Result<SignedChange, ClientError> {
        let me = self.keys.user_id();
        let current =
            |user: &UserId| {
                state.members().get(user).copied().ok_or_else(|| {
                    ClientError::Invalid(format!("{user} is not a member of the group"))
                })
            };
        let mut members = Vec::new();
        let targets: Vec<UserId> = if action == GroupAction::Leave {
            vec![me]
        } else {
            users.to_vec()
        };
        for user in targets {
            let member = match action {
                GroupAction::Add => ChangeMember {
                    user_id: user,
                    ik: self.identity_of(user).await?,
                    admin: false,
                },
                GroupAction::Remove | GroupAction::Leave => {
                    let m = current(&user)?;
                    ChangeMember {
                        user_id: user,
                        ik: m.ik,
                        admin: m.admin,
                    }
                }
                GroupAction::Admin | GroupAction::Unadmin => ChangeMember {
                    user_id: user,
                    ik: current(&user)?.ik,
                    admin: action == GroupAction::Admin,
                },
            };
            members.push(member);
        }
        let change = Change {
            group_id: state.group_id(),
            seq: state.seq() + 1,
            prev: Some(state.head()),
            author: me,
            author_ik: self.keys.identity().public(),
            at_ms: now_ms(),
            op: match action {
                GroupAction::Add => Op::Add,
                GroupAction::Remove => Op::Remove,
                GroupAction::Admin => Op::Admin,
                GroupAction::Unadmin => Op::Unadmin,
                GroupAction::Leave => Op::Leave,
            },
            members,
        };
        Ok(change.sign(self.keys.identity())?)
    }

    /// The keys to wrap a group message for: every active key of every other member of the
    /// state verified just now (each checked against the member's pinned identity key).
    async fn group_recipients(&mut self, group: Uuid) -> Result<Vec<RecipientKey>, ClientError> {
        let state = self.sync_group(group).await?;
        let me = self.keys.user_id();
        if !state.is_member(&me) {
            return Err(ClientError::Invalid(
                "you are not a member of this group".into(),
            ));
        }
        let mut keys = Vec::new();
        for user in state.members().keys().filter(|u| **u != me) {
            keys.extend(self.contact_keys(*user).await?);
        }
        Ok(keys)
    }

    async fn seal_in_group(
        &mut self,
        group: Uuid,
        content: &Content,
        hidden: bool,
        expires_in_ms: Option<i64>,
    ) -> Result<SealedEnvelope, ClientError> {
        let recipients = self.group_recipients(group).await?;
        self.seal_for(ConvId(group), &recipients, content, hidden, expires_in_ms)
    }

    /// Seals a text message for the group's members.
    pub async fn seal_group_text(
        &mut self,
        group: Uuid,
        body: &str,
        hidden: bool,
        expires_in_ms: Option<i64>,
    ) -> Result<SealedEnvelope, ClientError> {
        let content = Content::Text {
            body: body.to_owned(),
        };
        self.seal_in_group(group, &content, hidden, expires_in_ms)
            .await
    }

    /// Seals the group's name and colour for its members.
    pub async fn seal_group_meta(
        &mut self,
        group: Uuid,
        name: &str,
        color: &str,
    ) -> Result<SealedEnvelope, ClientError> {
        let content = Content::GroupMeta {
            name: name.to_owned(),
            color: color.to_owned(),
        };
        self.seal_in_group(group, &content, false, None).await
    }

    /// Seals a tombstone deleting `target` in the group (mine, or any member's as an admin).
    pub async fn seal_group_delete(
        &mut self,
        group: Uuid,
        target: MsgId,
    ) -> Result<SealedEnvelope, ClientError> {
        self.seal_in_group(group, &Content::Delete { target }, false, None)
            .await
    }

    /// Encrypts and uploads a file for the group, then seals the file message carrying its
    /// key.
    pub async fn seal_group_file(
        &mut self,
        group: Uuid,
        bytes: &[u8],
        name: &str,
        mime: &str,
        caption: &str,
    ) -> Result<SealedEnvelope, ClientError> {
        let content = self
            .file_content(FileFor::Group(group), bytes, name, mime, caption)
            .await?;
        self.seal_in_group(group, &content, false, None).await
    }
}
