//! Serialising server events once, into frames any number of connections can share.

use std::fmt::Write as _;

use axum::extract::ws::Utf8Bytes;

use securechat_proto::ids::UserId;
use securechat_proto::ws::{v1, Protocol, ServerEvent, WsErrorCode};
use uuid::Uuid;

use crate::metrics::WS_ERRORS;

/// Where a frame stands in the stream of the user it goes to. Each connection keeps its
/// stream gap-free and in order from this: it drops events it already sent and, when one
/// arrives past a gap (events committed on another node whose word has not come, or never
/// will), reads the missing ones from the store first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Not a stream event (presence, errors, a reader's own receipt echo).
    Outside,
    /// The stream event numbered `seq`.
    Event(u64),
    /// The ack of the connection's own message, which took `seq` in its stream (a repeated
    /// message is acked with its old `seq`, and never dropped).
    Ack(u64),
    /// Not a frame: the stream is known to reach at least `seq` (from the database poll).
    Tip(u64),
    /// Not a stream event, and only for connections speaking at least this protocol version
    /// (an event type older clients do not know).
    Since(Protocol),
}

/// A serialised frame for one connection.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub place: Place,
    pub text: Utf8Bytes,
}

impl Outbound {
    /// The word that a user's stream reaches `seq`.
    pub fn tip(seq: u64) -> Self {
        Self {
            place: Place::Tip(seq),
            text: Utf8Bytes::from_static(""),
        }
    }
}

/// Serialises an event. `ServerEvent` holds only strings, numbers and ids, so this cannot
/// fail; a failure would yield an `internal` error frame.
pub fn encode(event: &ServerEvent) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(event).unwrap_or_else(|_| {
        r#"{"type":"error","code":"internal","message":"could not encode event"}"#.to_owned()
    }))
}

/// Protocol 1's `presence` frame about one user (`securechat_proto::ws::Protocol::V1`).
pub fn presence_v1(user_id: UserId, online: bool) -> Outbound {
    let text = serde_json::to_string(&v1::Presence { user_id, online }).unwrap_or_else(|_| {
        r#"{"type":"error","code":"internal","message":"could not encode event"}"#.to_owned()
    });
    Outbound {
        place: Place::Outside,
        text: Utf8Bytes::from(text),
    }
}

/// A shareable frame, placed in the recipient's stream when the event has a `seq`.
pub fn outbound(event: &ServerEvent) -> Outbound {
    let place = match event {
        ServerEvent::Message { seq, .. } | ServerEvent::Deleted { seq, .. } => Place::Event(*seq),
        ServerEvent::Read { seq: Some(seq), .. } => Place::Event(*seq),
        ServerEvent::Ack { seq, .. } => Place::Ack(*seq),
        ServerEvent::Group { .. } => Place::Since(Protocol::V3),
        _ => Place::Outside,
    };
    Outbound {
        place,
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
    group: Option<Uuid>,
) -> Outbound {
    let mut text = String::with_capacity(envelope_json.len() + 160);
    let _ = write!(
        text,
        r#"{{"type":"message","seq":{seq},"from":"{from}","ts":{ts},"envelope":{envelope_json}"#
    );
    if let Some(at) = expires_at {
        let _ = write!(text, r#","expires_at":{at}"#);
    }
    if let Some(group) = group {
        let _ = write!(text, r#","group":"{group}""#);
    }
    text.push('}');
    Outbound {
        place: Place::Event(seq),
        text: Utf8Bytes::from(text),
    }
}

/// An error frame.
pub fn error(code: WsErrorCode, message: impl Into<String>, reference: Option<String>) -> Outbound {
    Outbound {
        place: Place::Outside,
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
        let group = Uuid::from_u128(0x0193_650e_2c00_4a11_8ce0_a11c_e000_0001);
        for (expires_at, group) in [
            (None, None),
            (Some(1_732_530_000_000), None),
            (None, Some(group)),
            (Some(1_732_530_000_000), Some(group)),
        ] {
            let built = message(7, from, 1_732_529_000_000, &json, expires_at, group);
            let serialised = outbound(&ServerEvent::Message {
                seq: 7,
                from,
                ts: 1_732_529_000_000,
                envelope: envelope.clone(),
                expires_at,
                group,
            });
            assert_eq!(built.text.as_str(), serialised.text.as_str());
            assert_eq!(built.place, serialised.place);
        }
    }
}
