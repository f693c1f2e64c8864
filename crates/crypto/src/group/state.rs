//! The membership a verified chain leads to, and the rules each change must obey (§17.3).

use std::collections::BTreeMap;

use securechat_proto::ids::UserId;

use crate::group::change::{Change, ChangeMember, Op, SignedChange};
use crate::group::MAX_MEMBERS;
use crate::identity::IdentityKey;
use crate::ids::ConvId;
use crate::CryptoError;

/// A member of a verified state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub ik: IdentityKey,
    pub admin: bool,
}

/// The membership after the changes `0 ..= seq` of a group, all verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    group_id: ConvId,
    seq: u64,
    head: [u8; 32],
    members: BTreeMap<UserId, Member>,
}

fn refuse(seq: u64, reason: &'static str) -> CryptoError {
    CryptoError::GroupChange { seq, reason }
}

impl GroupState {
    /// Verifies a whole chain from its first change and returns the state it leads to.
    pub fn verify(chain: &[SignedChange]) -> Result<Self, CryptoError> {
        let (first, rest) = chain.split_first().ok_or(CryptoError::GroupChange {
            seq: 0,
            reason: "the chain is empty",
        })?;
        let mut state = Self::genesis(first)?;
        for signed in rest {
            state = state.apply(signed)?;
        }
        Ok(state)
    }

    /// The state made by a group's first change (`create`).
    pub fn genesis(signed: &SignedChange) -> Result<Self, CryptoError> {
        let change = signed.open()?;
        if change.seq != 0 || change.prev.is_some() {
            return Err(refuse(
                change.seq,
                "the first change must have seq 0 and no prev",
            ));
        }
        if change.op != Op::Create {
            return Err(refuse(0, "the first change must be a create"));
        }
        let mut members = BTreeMap::new();
        for m in &change.members {
            if members
                .insert(
                    m.user_id,
                    Member {
                        ik: m.ik,
                        admin: m.admin,
                    },
                )
                .is_some()
            {
                return Err(refuse(0, "a member is listed twice"));
            }
        }
        check_size(0, members.len())?;
        match members.get(&change.author) {
            Some(m) if m.admin && m.ik == change.author_ik => {}
            _ => {
                return Err(refuse(
                    0,
                    "the creator must be an admin member with its own key",
                ))
            }
        }
        Ok(Self {
            group_id: change.group_id,
            seq: 0,
            head: signed.link(),
            members,
        })
    }

    /// The state after `signed`, which must be the next change of this group, signed by a
    /// member allowed to make it; `self` is unchanged when it is refused.
    pub fn apply(&self, signed: &SignedChange) -> Result<Self, CryptoError> {
        let change = signed.open()?;
        let seq = change.seq;
        if change.group_id != self.group_id {
            return Err(refuse(seq, "the change belongs to another group"));
        }
        if seq != self.seq + 1 {
            return Err(refuse(seq, "the change does not follow the last one (seq)"));
        }
        if change.prev != Some(self.head) {
            return Err(refuse(
                seq,
                "the change does not link to the last one (prev)",
            ));
        }
        let author = match self.members.get(&change.author) {
            Some(m) if m.ik == change.author_ik => *m,
            Some(_) => return Err(refuse(seq, "the author's key is not the one in the group")),
            None => return Err(refuse(seq, "the author is not a member")),
        };
        if change.op != Op::Leave && !author.admin {
            return Err(refuse(seq, "only an admin may change the membership"));
        }
        if change.members.is_empty() {
            return Err(refuse(seq, "the change names no member"));
        }
        let mut members = self.members.clone();
        let mut seen = std::collections::BTreeSet::new();
        for m in &change.members {
            if !seen.insert(m.user_id) {
                return Err(refuse(seq, "a member is listed twice"));
            }
            apply_one(&change, m, &mut members)?;
        }
        check_size(seq, members.len())?;
        if change.op == Op::Leave && !members.is_empty() && !members.values().any(|m| m.admin) {
            return Err(refuse(
                seq,
                "the last admin cannot leave while others stay: make another member an admin first",
            ));
        }
        Ok(Self {
            group_id: self.group_id,
            seq,
            head: signed.link(),
            members,
        })
    }

    pub fn group_id(&self) -> ConvId {
        self.group_id
    }

    /// The seq of the last change applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The link of the last change applied (the next change's `prev`).
    pub fn head(&self) -> [u8; 32] {
        self.head
    }

    pub fn members(&self) -> &BTreeMap<UserId, Member> {
        &self.members
    }

    pub fn is_member(&self, user: &UserId) -> bool {
        self.members.contains_key(user)
    }

    /// Whether a message of this group may be opened and shown (§17.4): its sender and every
    /// user it is wrapped for are members of this state. `wrapped` is the header's
    /// `recipients` (every user with a wrap).
    pub fn admit(&self, sender: &UserId, wrapped: &[UserId]) -> Result<(), CryptoError> {
        if !self.is_member(sender) {
            return Err(CryptoError::GroupSenderNotMember { user: *sender });
        }
        match wrapped.iter().find(|u| !self.is_member(u)) {
            Some(user) => Err(CryptoError::GroupOutsider { user: *user }),
            None => Ok(()),
        }
    }

    /// Whether `user` is an admin of this state.
    pub fn is_admin(&self, user: &UserId) -> bool {
        self.members.get(user).is_some_and(|m| m.admin)
    }

    /// Every member's identity key must be the one this client pinned for that user (a user
    /// with no pin yet is pinned from the chain by the caller, trust on first use).
    pub fn check_pins(
        &self,
        pinned: impl Fn(&UserId) -> Option<IdentityKey>,
    ) -> Result<(), CryptoError> {
        for (user, member) in &self.members {
            if let Some(pin) = pinned(user) {
                if pin != member.ik {
                    return Err(CryptoError::GroupKeyMismatch { user: *user });
                }
            }
        }
        Ok(())
    }
}

fn check_size(seq: u64, size: usize) -> Result<(), CryptoError> {
    if size > MAX_MEMBERS {
        return Err(refuse(seq, "a group has at most 256 members"));
    }
    Ok(())
}

/// One named member's part of a change.
fn apply_one(
    change: &Change,
    m: &ChangeMember,
    members: &mut BTreeMap<UserId, Member>,
) -> Result<(), CryptoError> {
    let seq = change.seq;
    let current = members.get(&m.user_id).copied();
    // Every op but add names a current member, with the key the state has for it.
    let existing = || match current {
        Some(c) if c.ik == m.ik => Ok(c),
        Some(_) => Err(refuse(seq, "a member's key differs from the group's")),
        None => Err(refuse(seq, "the change names someone who is not a member")),
    };
    let flag = |expected: bool, reason: &'static str| {
        if m.admin == expected {
            Ok(())
        } else {
            Err(refuse(seq, reason))
        }
    };
    match change.op {
        Op::Create => return Err(refuse(seq, "only the first change may be a create")),
        Op::Add => {
            if current.is_some() {
                return Err(refuse(seq, "an added member is already a member"));
            }
            members.insert(
                m.user_id,
                Member {
                    ik: m.ik,
                    admin: m.admin,
                },
            );
        }
        Op::Remove => {
            if m.user_id == change.author {
                return Err(refuse(seq, "an admin leaves by a leave, not a remove"));
            }
            let c = existing()?;
            flag(
                c.admin,
                "a removed member must be named with its admin flag",
            )?;
            members.remove(&m.user_id);
        }
        Op::Admin => {
            let c = existing()?;
            if c.admin {
                return Err(refuse(seq, "the member is an admin already"));
            }
            flag(true, "an admin change names the member with admin true")?;
            members.insert(
                m.user_id,
                Member {
                    ik: c.ik,
                    admin: true,
                },
            );
        }
        Op::Unadmin => {
            if m.user_id == change.author {
                return Err(refuse(seq, "an admin cannot unadmin itself"));
            }
            let c = existing()?;
            if !c.admin {
                return Err(refuse(seq, "the member is not an admin"));
            }
            flag(false, "an unadmin names the member with admin false")?;
            members.insert(
                m.user_id,
                Member {
                    ik: c.ik,
                    admin: false,
                },
            );
        }
        Op::Leave => {
            if m.user_id != change.author {
                return Err(refuse(seq, "a leave names only its author"));
            }
            let c = existing()?;
            flag(
                c.admin,
                "a leaving member must be named with its admin flag",
            )?;
            members.remove(&m.user_id);
        }
    }
    Ok(())
}
