//! The user directory.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// One entry of `GET /api/v1/users` and `GET /api/v1/users/online`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    /// True while the user has at least one open WebSocket.
    pub online: bool,
    /// The account was deleted: its messages are gone and it cannot be written to. Left out
    /// when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}
