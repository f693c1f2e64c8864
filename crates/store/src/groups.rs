//! Groups: the membership chain of each group (signed by its members; the server verifies it
//! with the same rules as clients before storing a change, but cannot make one) and the
//! membership it leads to, which routing reads.

use securechat_proto::ids::UserId;
use uuid::Uuid;

use crate::StoreError;

/// A change to store: the next of its group (`seq` 0 creates the group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroupChange {
    pub group_id: Uuid,
    pub seq: u64,
    /// The change's exact bytes and its author's signature (docs/PROTOCOL.md §17.2).
    pub change: Vec<u8>,
    pub sig: Vec<u8>,
    pub stored_at: i64,
    /// The membership after the change, as the server verified it.
    pub members: Vec<GroupMemberRow>,
}

/// A stored change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChangeRow {
    pub seq: u64,
    pub change: Vec<u8>,
    pub sig: Vec<u8>,
}

/// A member of a group's current membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupMemberRow {
    pub user: UserId,
    pub admin: bool,
}

/// Groups and their chains.
#[async_trait::async_trait]
pub trait Groups {
    /// Stores `change` as change `seq` of its group and replaces the group's membership with
    /// `change.members`, in one transaction. It is a compare-and-swap on the group's last
    /// seq: `seq` 0 only for a group that does not exist, otherwise exactly one more than the
    /// last stored change; anything else (another change came first) is
    /// `Conflict(GroupHead)` and stores nothing.
    async fn append_group_change(&self, change: &NewGroupChange) -> Result<(), StoreError>;

    /// The group's changes from `from_seq` on, in order (empty for an unknown group).
    async fn group_changes(
        &self,
        group: Uuid,
        from_seq: u64,
    ) -> Result<Vec<GroupChangeRow>, StoreError>;

    /// The group's current members, by user id.
    async fn group_members(&self, group: Uuid) -> Result<Vec<GroupMemberRow>, StoreError>;

    /// The groups `user` is a member of, with each one's last seq, by group id.
    async fn groups_of(&self, user: UserId) -> Result<Vec<(Uuid, u64)>, StoreError>;
}
