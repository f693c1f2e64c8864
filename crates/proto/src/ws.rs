//! WebSocket frames at `/api/v1/ws`: JSON text frames tagged by `type`.
//!
//! The client's first frame must be `auth` (within 5 s); the token never appears in a URL.

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::ids::UserId;

/// Frames a client sends. Its `Debug` never shows the `auth` token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticate (first frame), or re-authenticate with a fresh token before the current
    /// one expires. `since` is the last `seq` the client holds (0 or absent: everything).
    Auth {
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// Send a message envelope (kind `msg` or `file`).
    Send { envelope: Envelope },
    /// Delete one of my messages for everyone: a tombstone envelope (kind `delete`) I signed.
    Delete { envelope: Envelope },
    /// I have read `peer`'s messages up to server time `up_to` (ms).
    Read { peer: UserId, up_to: i64 },
    /// Keep-alive; answered with `pong`.
    Ping,
}

impl std::fmt::Debug for ClientFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth { since, .. } => f
                .debug_struct("Auth")
                .field("token", &"<redacted>")
                .field("since", since)
                .finish(),
            Self::Send { envelope } => f.debug_struct("Send").field("envelope", envelope).finish(),
            Self::Delete { envelope } => f
                .debug_struct("Delete")
                .field("envelope", envelope)
                .finish(),
            Self::Read { peer, up_to } => f
                .debug_struct("Read")
                .field("peer", peer)
                .field("up_to", up_to)
                .finish(),
            Self::Ping => f.write_str("Ping"),
        }
    }
}

/// Why a message or a delete notice was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteReason {
    /// Its sender deleted it (the tombstone envelope is attached).
    Deleted,
    /// Its self-destruct time passed.
    Expired,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// Authentication succeeded; replay of everything after `since` follows.
    Ready { user_id: UserId },
    /// My message is stored durably. `seq` is its place in my own stream.
    Ack { msg_id: String, seq: u64, ts: i64 },
    /// A message for me, or one I sent from another session.
    Message {
        seq: u64,
        from: UserId,
        ts: i64,
        envelope: Envelope,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
    },
    /// A message was removed for both sides.
    Deleted {
        msg_id: String,
        seq: u64,
        /// The message's sender.
        from: UserId,
        reason: DeleteReason,
        /// The sender-signed tombstone, when `reason` is `deleted`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        envelope: Option<Envelope>,
    },
    /// Users who came online or went offline since the last `presence` event. The server
    /// gathers changes and sends one event per interval (0.5 s) to every connection, so a
    /// crowd connecting at once costs one frame per connection per interval, not one per
    /// user per connection.
    Presence {
        #[serde(default)]
        online: Vec<UserId>,
        #[serde(default)]
        offline: Vec<UserId>,
    },
    /// A read receipt in the conversation with `peer`: `by` has read the other side's
    /// messages up to server time `up_to`. `by` is `peer` when the other side read mine, and
    /// is me when I read theirs in another session. Stored receipts carry a `seq`.
    Read {
        peer: UserId,
        by: UserId,
        up_to: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// Replay is complete: everything up to `seq` has been sent.
    CaughtUp { seq: u64 },
    /// A frame was refused (`ref` names it where possible); see `WsErrorCode`.
    Error {
        code: WsErrorCode,
        message: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Answer to `ping`.
    Pong,
}

impl WsErrorCode {
    /// The wire spelling (as serialised), e.g. for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthTimeout => "auth_timeout",
            Self::AuthRequired => "auth_required",
            Self::Unauthorized => "unauthorized",
            Self::SessionRevoked => "session_revoked",
            Self::TokenExpired => "token_expired",
            Self::MalformedFrame => "malformed_frame",
            Self::EnvelopeTooLarge => "envelope_too_large",
            Self::InvalidEnvelope => "invalid_envelope",
            Self::UnknownRecipient => "unknown_recipient",
            Self::DuplicateConflict => "duplicate_conflict",
            Self::NotFound => "not_found",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::SlowReader => "slow_reader",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
        }
    }
}

/// Machine-readable WebSocket error codes. Those marked "closes" end the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WsErrorCode {
    /// No `auth` frame within 5 s (closes).
    AuthTimeout,
    /// The first frame was not `auth` (closes).
    AuthRequired,
    /// The token is invalid, expired or its session revoked (closes).
    Unauthorized,
    /// The session was revoked (logout, password change) (closes).
    SessionRevoked,
    /// The access token expired without re-authentication (closes).
    TokenExpired,
    /// Not a JSON frame of a known type.
    MalformedFrame,
    /// The envelope is larger than the server accepts.
    EnvelopeTooLarge,
    /// The envelope or its header is invalid (sender, recipients, sizes, expiry).
    InvalidEnvelope,
    /// A recipient does not exist.
    UnknownRecipient,
    /// The same `msg_id` was already used for different content.
    DuplicateConflict,
    /// No such message of mine (delete).
    NotFound,
    /// Not allowed (deleting someone else's message).
    Forbidden,
    /// Too many frames; this one was dropped.
    RateLimited,
    /// Too many open connections for this user (closes).
    TooManyConnections,
    /// The client did not read fast enough (closes).
    SlowReader,
    /// Server fault; retry later.
    Internal,
    /// The server cannot store anything now (its database refuses writes: disk full, I/O
    /// errors); nothing was stored, retry later.
    Unavailable,
    /// A code this client does not know (added by a newer server); treat as an error.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let frame = ClientFrame::Auth {
            token: "secret-token".to_owned(),
            since: Some(3),
        };
        let shown = format!("{frame:?}");
        assert!(!shown.contains("secret-token") && shown.contains("redacted"));
    }

    #[test]
    fn error_code_names_match_their_serialisation() {
        for code in [
            WsErrorCode::AuthTimeout,
            WsErrorCode::AuthRequired,
            WsErrorCode::Unauthorized,
            WsErrorCode::SessionRevoked,
            WsErrorCode::TokenExpired,
            WsErrorCode::MalformedFrame,
            WsErrorCode::EnvelopeTooLarge,
            WsErrorCode::InvalidEnvelope,
            WsErrorCode::UnknownRecipient,
            WsErrorCode::DuplicateConflict,
            WsErrorCode::NotFound,
            WsErrorCode::Forbidden,
            WsErrorCode::RateLimited,
            WsErrorCode::TooManyConnections,
            WsErrorCode::SlowReader,
            WsErrorCode::Internal,
            WsErrorCode::Unavailable,
            WsErrorCode::Unknown,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn a_code_from_a_newer_server_still_parses() {
        let code: WsErrorCode = serde_json::from_str("\"something_new\"").unwrap();
        assert_eq!(code, WsErrorCode::Unknown);
    }
}
