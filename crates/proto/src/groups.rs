//! Groups over REST: the signed membership changes (docs/PROTOCOL.md §17) as they travel.

use serde::{Deserialize, Serialize};

/// A signed membership change, exactly the transport form of PROTOCOL.md §17.2:
/// `{"change": base64url(change bytes), "sig": base64url(64-byte Ed25519 signature)}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedGroupChange {
    pub change: String,
    pub sig: String,
}

/// `GET /api/v1/groups/{id}/changes`: the group's changes from `from` on, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupChanges {
    /// The group id (canonical UUID text).
    pub group_id: String,
    /// The seq of the first change listed.
    pub from: u64,
    pub changes: Vec<SignedGroupChange>,
}

/// `POST /api/v1/groups/{id}/changes` answered `201`: the change is stored at this seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupChangeStored {
    pub seq: u64,
}

/// One entry of `GET /api/v1/groups`: a group the caller is a member of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupSummary {
    /// The group id (canonical UUID text).
    pub group_id: String,
    /// Its last change's seq: fetch the changes after the last one verified.
    pub seq: u64,
}
