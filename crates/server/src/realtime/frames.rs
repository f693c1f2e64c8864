//! Serialising server events once, into frames any number of connections can share.

use axum::extract::ws::Utf8Bytes;

use securechat_proto::ws::{ServerEvent, WsErrorCode};

use crate::metrics::WS_ERRORS;
use crate::realtime::hub::Outbound;

/// Serialises an event. `ServerEvent` holds only strings, numbers and ids, so this cannot
/// fail; a failure would yield an `internal` error frame.
pub fn encode(event: &ServerEvent) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(event).unwrap_or_else(|_| {
        r#"{"type":"error","code":"internal","message":"could not encode event"}"#.to_owned()
    }))
}

/// A shareable frame; `seq` is the event's place in the recipient's stream, if it has one.
pub fn outbound(event: &ServerEvent) -> Outbound {
    let seq = match event {
        ServerEvent::Message { seq, .. } | ServerEvent::Deleted { seq, .. } => Some(*seq),
        ServerEvent::Read { seq, .. } => *seq,
        _ => None,
    };
    Outbound {
        seq,
        text: encode(event),
    }
}

/// An error frame.
pub fn error(code: WsErrorCode, message: impl Into<String>, reference: Option<String>) -> Outbound {
    Outbound {
        seq: None,
        text: error_text(code, message, reference),
    }
}

/// An error frame's text; every error frame sent is counted here, by code.
pub fn error_text(
    code: WsErrorCode,
    message: impl Into<String>,
    reference: Option<String>,
) -> Utf8Bytes {
    metrics::counter!(WS_ERRORS, "code" => code.as_str()).increment(1);
    encode(&ServerEvent::Error {
        code,
        message: message.into(),
        reference,
    })
}
