//! Serialising server events once, into frames any number of connections can share.

use std::fmt::Write as _;

use axum::extract::ws::Utf8Bytes;

use securechat_proto::ids::UserId;
use securechat_proto::ws::{ServerEvent, WsErrorCode};

use crate::metrics::WS_ERRORS;

/// A serialised frame for one connection. `seq` (when the event has one) lets a connection
/// drop live events its replay already covered.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub seq: Option<u64>,
    pub text: Utf8Bytes,
}

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

/// A `message` event for a stored message, built around the envelope's stored JSON text
/// instead of serialising the parsed envelope again (≈ 2 KB of base64 strings escaped per
/// frame). `envelope_json` must be what `serde_json` wrote for an `Envelope`, as the store
/// holds; the result is byte for byte what `outbound(&ServerEvent::Message { … })` gives
/// (tested).
pub fn message(
    seq: u64,
    from: UserId,
    ts: i64,
    envelope_json: &str,
    expires_at: Option<i64>,
) -> Outbound {
    let mut text = String::with_capacity(envelope_json.len() + 160);
    let _ = write!(
        text,
        r#"{{"type":"message","seq":{seq},"from":"{from}","ts":{ts},"envelope":{envelope_json}"#
    );
    if let Some(at) = expires_at {
        let _ = write!(text, r#","expires_at":{at}"#);
    }
    text.push('}');
    Outbound {
        seq: Some(seq),
        text: Utf8Bytes::from(text),
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

#[cfg(test)]
mod tests {
    use securechat_proto::envelope::Envelope;

    use super::*;

    #[test]
    fn a_message_frame_is_exactly_the_serialised_event() {
        let envelope = Envelope {
            v: 1,
            h: "eyJ2IjoxfQ".to_owned(),
            ct: "AAAA-_".to_owned(),
            sig: "c2ln".to_owned(),
        };
        let json = serde_json::to_string(&envelope).unwrap();
        let from = UserId::generate();
        for expires_at in [None, Some(1_732_530_000_000)] {
            let built = message(7, from, 1_732_529_000_000, &json, expires_at);
            let serialised = outbound(&ServerEvent::Message {
                seq: 7,
                from,
                ts: 1_732_529_000_000,
                envelope: envelope.clone(),
                expires_at,
            });
            assert_eq!(built.text.as_str(), serialised.text.as_str());
            assert_eq!(built.seq, serialised.seq);
        }
    }
}
