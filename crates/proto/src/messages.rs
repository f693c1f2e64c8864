//! Message history and files over REST.

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::ids::UserId;

/// Most messages one history page returns.
pub const HISTORY_MAX_LIMIT: u32 = 200;

/// One stored message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryItem {
    /// Its place in the caller's stream; page backwards with `before=seq`.
    pub seq: u64,
    pub from: UserId,
    /// Server receive time, Unix ms.
    pub ts: i64,
    pub envelope: Envelope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// `GET /api/v1/conversations/{user_id}/messages`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub messages: Vec<HistoryItem>,
    /// Pass as `before` for the next (older) page; absent at the start of the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

/// `POST /api/v1/files?to={user_id}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileUploaded {
    /// 128 random bits, base64url.
    pub file_id: String,
    /// Bytes stored.
    pub size: u64,
}
