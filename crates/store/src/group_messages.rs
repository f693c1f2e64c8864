//! Messages in groups: one stored message, one entry in the stream of every member who
//! receives it (gap-free, as for 1:1 messages), checked against the group's membership in the
//! same transaction, so a member removed before the message is stored never gets it.

use securechat_proto::ids::UserId;
use uuid::Uuid;

use crate::model::{FileId, GroupAppendOutcome, NewGroupMessage, Removal, StoredMessage};
use crate::StoreError;

/// Group messages and their delivery.
#[async_trait::async_trait]
pub trait GroupMessages {
    /// Stores a group message in one transaction: the sender must be a member (else
    /// `NotMember`) and the users with a wrap exactly the group's members whose accounts are
    /// live, give or take members whose accounts were deleted (else `MembershipChanged`).
    /// Each member with a wrap, the sender included, gets an entry in their stream. A key
    /// already stored answers `Duplicate` or `Conflict` as in `append_messages`, and so does
    /// a `msg_id` another member already used in the group (`Conflict`: ids are unique in a
    /// group, which deletions rely on); files must have been uploaded by the sender for this
    /// group and not be attached yet (`BadFile`).
    async fn append_group_message(
        &self,
        message: &NewGroupMessage,
    ) -> Result<GroupAppendOutcome, StoreError>;

    /// Removes a live message of `group` named `msg_id` for everyone who received it, when
    /// `actor` sent it or is an admin of the group now, and records the deletion (with the
    /// actor's signed tombstone) in each of their streams, in one transaction. `None` when
    /// there is no such live message or `actor` may not delete it.
    async fn delete_group_message(
        &self,
        actor: UserId,
        group: Uuid,
        msg_id: [u8; 16],
        tombstone: &str,
        now: i64,
    ) -> Result<Option<Removal>, StoreError>;

    /// Records that member `reader` has read the group's messages up to server time `up_to`;
    /// the event goes into every other member's stream. Returns those streams' seqs, by user
    /// id; `None` when `reader` is not a member.
    async fn record_group_read(
        &self,
        reader: UserId,
        group: Uuid,
        up_to: i64,
        now: i64,
    ) -> Result<Option<Vec<(UserId, u64)>>, StoreError>;

    /// Live messages of `group` that `user` received (was a member when they were stored),
    /// with seq (in `user`'s stream) below `before`, newest first.
    async fn group_history(
        &self,
        user: UserId,
        group: Uuid,
        before: Option<u64>,
        limit: u32,
        now: i64,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Whether `user` received a live message carrying `file` (a group file's readers).
    async fn file_delivered_to(&self, file: FileId, user: UserId) -> Result<bool, StoreError>;
}

/// A member of a group as an append sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberState {
    pub user: UserId,
    /// The account is not deleted.
    pub live: bool,
}

/// Judges a group message's wraps against the group's members (every backend's rule): the
/// streams it goes to (the live members with a wrap, the sender among them, by user id), or
/// the refusal.
pub fn deliveries(
    members: &[MemberState],
    sender: UserId,
    wrapped: &[UserId],
) -> Result<Vec<UserId>, GroupAppendOutcome> {
    let live = |u: UserId| members.iter().any(|m| m.user == u && m.live);
    if !live(sender) {
        return Err(GroupAppendOutcome::NotMember);
    }
    let outsider = wrapped
        .iter()
        .any(|u| !members.iter().any(|m| m.user == *u));
    let unwrapped = members.iter().any(|m| m.live && !wrapped.contains(&m.user));
    if outsider || unwrapped {
        return Err(GroupAppendOutcome::MembershipChanged);
    }
    let mut to: Vec<UserId> = members.iter().filter(|m| m.live).map(|m| m.user).collect();
    to.sort_unstable();
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u8) -> UserId {
        UserId(Uuid::from_bytes([n; 16]))
    }

    fn member(n: u8, live: bool) -> MemberState {
        MemberState {
            user: user(n),
            live,
        }
    }

    #[test]
    fn a_message_goes_to_the_live_members_when_it_wraps_for_them_all() {
        let members = [member(3, true), member(1, true), member(2, false)];
        assert_eq!(
            deliveries(&members, user(1), &[user(3), user(1)]),
            Ok(vec![user(1), user(3)])
        );
        // A deleted member may be wrapped for too; it gets nothing.
        assert_eq!(
            deliveries(&members, user(1), &[user(3), user(2), user(1)]),
            Ok(vec![user(1), user(3)])
        );
    }

    #[test]
    fn outsiders_missing_members_and_non_members_are_refused() {
        let members = [member(1, true), member(2, true)];
        assert_eq!(
            deliveries(&members, user(9), &[user(1), user(2), user(9)]),
            Err(GroupAppendOutcome::NotMember)
        );
        assert_eq!(
            deliveries(&members, user(1), &[user(1), user(2), user(9)]),
            Err(GroupAppendOutcome::MembershipChanged)
        );
        assert_eq!(
            deliveries(&members, user(1), &[user(1)]),
            Err(GroupAppendOutcome::MembershipChanged)
        );
        assert_eq!(
            deliveries(
                &[member(1, false), member(2, true)],
                user(1),
                &[user(1), user(2)]
            ),
            Err(GroupAppendOutcome::NotMember)
        );
    }
}
