//! WebSocket frames at `/api/v1/ws`: JSON text frames tagged by `type`.
//!
//! The client's first frame must be `auth` (within 5 s); the token never appears in a URL.
//! It names the [`Protocol`] version the client speaks; the server answers in that version's
//! shapes (docs/PROTOCOL.md §12.2, §14).

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::ids::UserId;
use uuid::Uuid;

/// A version of the WebSocket protocol at `/api/v1/ws`: which shapes the server's frames
/// have for one connection. Within a version every change is additive (new optional members,
/// new error codes); a change that is not additive, or a new event type (0.1.0's Rust client
/// refused unknown types), makes a new version, and the server keeps answering the older ones
/// in their own shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// The first shapes: `presence` is one frame per user, `{"user_id":U,"online":bool}`,
    /// never about the connection's own user; error codes are those up to `internal` (a
    /// later code is sent as `internal`).
    V1 = 1,
    /// `presence` gathers changes: `{"online":[U…],"offline":[U…]}`, to every connection
    /// (securechat 0.1.0 and later).
    V2 = 2,
    /// Adds the `group` event: a group's membership changed (securechat 0.3.0 and later).
    /// Connections of older versions do not get it.
    V3 = 3,
}

impl Protocol {
    /// The version this crate's clients speak and send.
    pub const CURRENT: Self = Self::V3;
    /// The oldest version a server of this crate still answers.
    pub const OLDEST: Self = Self::V1;
    /// The version of a client whose `auth` frame names none: securechat 0.1.0's clients
    /// (the browser client and the CLI) sent no `protocol` and read version 2's shapes.
    pub const UNSTATED: Self = Self::V2;

    /// The version numbered `number`, if this crate knows it.
    pub fn from_number(number: u32) -> Option<Self> {
        match number {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            3 => Some(Self::V3),
            _ => None,
        }
    }

    /// Its number on the wire.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The code to send a client of this version for `code`: a code its version did not
    /// have becomes `internal` (a version-1 client fails on a code it does not know).
    pub fn error_code(self, code: WsErrorCode) -> WsErrorCode {
        match self {
            Self::V1 if code.since() > Self::V1 => WsErrorCode::Internal,
            _ => code,
        }
    }
}

/// Frames a client sends. Its `Debug` never shows the `auth` token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticate (first frame), or re-authenticate with a fresh token before the current
    /// one expires. `since` is the last `seq` the client holds (0 or absent: everything).
    /// `protocol` is the [`Protocol`] version the client speaks (absent:
    /// [`Protocol::UNSTATED`]); only the first frame's counts.
    Auth {
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
    },
    /// Send a message envelope (kind `msg` or `file`).
    Send { envelope: Envelope },
    /// Delete one of my messages for everyone: a tombstone envelope (kind `delete`) I signed.
    Delete { envelope: Envelope },
    /// I have read `peer`'s messages up to server time `up_to` (ms), or, with `group`
    /// instead of `peer`, the group's messages.
    Read {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Uuid>,
        up_to: i64,
    },
    /// Keep-alive; answered with `pong`.
    Ping,
}

impl std::fmt::Debug for ClientFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth {
                since, protocol, ..
            } => f
                .debug_struct("Auth")
                .field("token", &"<redacted>")
                .field("since", since)
                .field("protocol", protocol)
                .finish(),
            Self::Send { envelope } => f.debug_struct("Send").field("envelope", envelope).finish(),
            Self::Delete { envelope } => f
                .debug_struct("Delete")
                .field("envelope", envelope)
                .finish(),
            Self::Read { peer, group, up_to } => f
                .debug_struct("Read")
                .field("peer", peer)
                .field("group", group)
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
    /// Authentication succeeded; replay of everything after `since` follows. `protocol` is
    /// the version the server speaks on this connection (absent from servers before 0.2.0).
    Ready {
        user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
    },
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
        /// The group it was sent in (absent for a 1:1 message).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Uuid>,
    },
    /// A message was removed for both sides.
    Deleted {
        msg_id: String,
        seq: u64,
        /// The message's sender.
        from: UserId,
        reason: DeleteReason,
        /// The sender-signed tombstone, when `reason` is `deleted` (in a group, signed by
        /// the sender or by an admin).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        envelope: Option<Envelope>,
        /// The group the message was sent in (absent for a 1:1 message).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Uuid>,
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
    /// is me when I read theirs in another session. Stored receipts carry a `seq`. With
    /// `group`, it is the group's messages that `by` (= `peer`) has read.
    Read {
        peer: UserId,
        by: UserId,
        up_to: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Uuid>,
    },
    /// A group's membership changed: its chain now ends at change `seq`. Sent (protocol 3
    /// and later) to the members before and after the change, when it is stored; not part of
    /// the stream (a client that was offline fetches `GET /api/v1/groups` when it connects).
    Group { group_id: Uuid, seq: u64 },
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

impl ServerEvent {
    /// Every `type` a server of this crate sends. A client skips frames of any other type
    /// (a newer server's additions).
    pub const TYPES: &'static [&'static str] = &[
        "ready",
        "ack",
        "message",
        "deleted",
        "presence",
        "read",
        "group",
        "caught_up",
        "error",
        "pong",
    ];
}

/// Frames of older [`Protocol`] versions whose shape a later version changed.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::ids::UserId;

    /// Protocol 1's `presence`: `user_id` came online (its first connection) or went offline
    /// (its last one closed). Sent to the connections of every other user.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "type", rename = "presence")]
    pub struct Presence {
        pub user_id: UserId,
        pub online: bool,
    }
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
            Self::UnsupportedProtocol => "unsupported_protocol",
            Self::NotAMember => "not_a_member",
            Self::GroupChanged => "group_changed",
            Self::Unknown => "unknown",
        }
    }

    /// The protocol version that introduced the code.
    pub fn since(self) -> Protocol {
        match self {
            Self::Unavailable
            | Self::UnsupportedProtocol
            | Self::NotAMember
            | Self::GroupChanged
            | Self::Unknown => Protocol::V2,
            _ => Protocol::V1,
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
    /// The `auth` frame's `protocol` is a version this server does not speak (closes); the
    /// message says which versions it speaks and who should upgrade.
    UnsupportedProtocol,
    /// The group does not exist, or I am not one of its members (a group message, delete
    /// or read).
    NotAMember,
    /// A group message's wraps are not the group's current members: its membership changed
    /// since I verified it. Nothing was stored: fetch the chain, verify it, seal again.
    GroupChanged,
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
            protocol: Some(Protocol::CURRENT.number()),
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
            WsErrorCode::UnsupportedProtocol,
            WsErrorCode::NotAMember,
            WsErrorCode::GroupChanged,
            WsErrorCode::Unknown,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            let v1 = Protocol::V1.error_code(code);
            assert_eq!(
                v1.since(),
                Protocol::V1,
                "{code:?} is sent to v1 as a v1 code"
            );
            assert_eq!(Protocol::V2.error_code(code), code);
        }
    }

    #[test]
    fn protocol_versions_and_their_shapes() {
        for number in 0..5 {
            let known = Protocol::from_number(number);
            assert_eq!(
                known.map(Protocol::number),
                (1..=3).contains(&number).then_some(number)
            );
        }
        assert!(Protocol::OLDEST <= Protocol::UNSTATED && Protocol::UNSTATED <= Protocol::CURRENT);
        // A 0.1.0 client's auth frame has no protocol; a client of this crate names it.
        let old: ClientFrame =
            serde_json::from_str(r#"{"type":"auth","token":"t","since":0}"#).unwrap();
        assert!(matches!(old, ClientFrame::Auth { protocol: None, .. }));
        let auth = ClientFrame::Auth {
            token: "t".to_owned(),
            since: None,
            protocol: Some(Protocol::CURRENT.number()),
        };
        assert_eq!(
            serde_json::to_string(&auth).unwrap(),
            r#"{"type":"auth","token":"t","protocol":3}"#
        );
        // A ready frame without protocol (a 0.1.0 server) still parses.
        let ready: ServerEvent = serde_json::from_str(
            r#"{"type":"ready","user_id":"0193650e-2c00-7b0b-8b0b-b0b000000002"}"#,
        )
        .unwrap();
        assert!(matches!(ready, ServerEvent::Ready { protocol: None, .. }));
        let presence = v1::Presence {
            user_id: UserId(Uuid::nil()),
            online: true,
        };
        assert_eq!(
            serde_json::to_string(&presence).unwrap(),
            r#"{"type":"presence","user_id":"00000000-0000-0000-0000-000000000000","online":true}"#
        );
        for kind in ServerEvent::TYPES {
            let tagged = serde_json::to_value(match *kind {
                "ready" => ServerEvent::Ready {
                    user_id: presence.user_id,
                    protocol: None,
                },
                "ack" => ServerEvent::Ack {
                    msg_id: String::new(),
                    seq: 1,
                    ts: 1,
                },
                "presence" => ServerEvent::Presence {
                    online: vec![],
                    offline: vec![],
                },
                "caught_up" => ServerEvent::CaughtUp { seq: 1 },
                "group" => ServerEvent::Group {
                    group_id: Uuid::nil(),
                    seq: 1,
                },
                "pong" => ServerEvent::Pong,
                "read" => ServerEvent::Read {
                    peer: presence.user_id,
                    by: presence.user_id,
                    up_to: 1,
                    seq: None,
                    group: None,
                },
                _ => continue,
            })
            .unwrap();
            assert_eq!(tagged["type"], *kind);
        }
    }

    #[test]
    fn a_code_from_a_newer_server_still_parses() {
        let code: WsErrorCode = serde_json::from_str("\"something_new\"").unwrap();
        assert_eq!(code, WsErrorCode::Unknown);
    }
}
