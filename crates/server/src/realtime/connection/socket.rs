//! The WebSocket itself: reading text frames, writing with a deadline, and closing with the
//! codes RFC 6455 names.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};

use securechat_proto::ws::WsErrorCode;

use crate::realtime::frames::error_text;

pub(super) type Sink = SplitSink<WebSocket, Message>;
pub(super) type Stream = SplitStream<WebSocket>;

/// Close codes (RFC 6455 §7.4.1, and 1012 from the IANA registry).
pub(super) mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// A text frame that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// The peer broke a rule of this endpoint (authentication, revocation, limits).
    pub const POLICY: u16 = 1008;
    /// A frame or message larger than the server reads.
    pub const TOO_BIG: u16 = 1009;
    /// The server failed.
    pub const INTERNAL: u16 = 1011;
    /// The server is restarting; reconnect.
    pub const RESTART: u16 = 1012;
}

/// What reading the socket gave.
pub(super) enum Incoming {
    /// A text frame (a binary frame reads as empty text, refused as malformed).
    Text(Utf8Bytes),
    /// The peer closed, or the connection broke.
    Closed,
    /// The peer broke the protocol; close with this code and reason.
    Refused(u16, &'static str),
}

/// The next text frame, skipping control frames.
pub(super) async fn next_text(stream: &mut Stream) -> Incoming {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => return Incoming::Text(text),
            Some(Ok(Message::Binary(_))) => return Incoming::Text(Utf8Bytes::from_static("")),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None => return Incoming::Closed,
            Some(Err(e)) => return refusal(e),
        }
    }
}

/// Which read errors deserve a close frame, and with which code.
fn refusal(error: axum::Error) -> Incoming {
    match error.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => match *e {
            tungstenite::Error::Capacity(_) => {
                Incoming::Refused(close::TOO_BIG, "frame larger than the server accepts")
            }
            tungstenite::Error::Utf8(_) => {
                Incoming::Refused(close::INVALID_DATA, "text frame is not valid UTF-8")
            }
            _ => Incoming::Closed,
        },
        Err(_) => Incoming::Closed,
    }
}

/// Writes with a deadline: a peer that stops reading cannot hold a task (and the frames
/// queued behind it) forever. `Err` means the socket is done for.
pub(super) async fn send(sink: &mut Sink, message: Message, deadline: Duration) -> Result<(), ()> {
    match tokio::time::timeout(deadline, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

/// Sends an error frame (best effort).
pub(super) async fn send_error(
    sink: &mut Sink,
    deadline: Duration,
    code: WsErrorCode,
    message: &str,
    reference: Option<String>,
) {
    let text = error_text(code, message, reference);
    let _ = send(sink, Message::Text(text), deadline).await;
}

/// Sends a close frame with a code and reason (best effort, bounded in time).
pub(super) async fn close_with(sink: &mut Sink, deadline: Duration, code: u16, reason: &str) {
    // A close frame's reason holds at most 123 bytes (RFC 6455 §5.5); a longer one would
    // make the frame invalid. The error frame before it carries the whole message.
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason[..end].to_owned()),
    };
    let _ = send(sink, Message::Close(Some(frame)), deadline).await;
}

/// The longest close reason, in bytes.
const MAX_CLOSE_REASON: usize = 123;

/// The close code that goes with an error that ends a connection.
pub(super) fn close_code(code: WsErrorCode) -> u16 {
    match code {
        WsErrorCode::Internal | WsErrorCode::Unavailable => close::INTERNAL,
        WsErrorCode::EnvelopeTooLarge => close::TOO_BIG,
        WsErrorCode::AuthTimeout
        | WsErrorCode::AuthRequired
        | WsErrorCode::Unauthorized
        | WsErrorCode::SessionRevoked
        | WsErrorCode::TokenExpired
        | WsErrorCode::TooManyConnections
        | WsErrorCode::SlowReader
        | WsErrorCode::UnsupportedProtocol
        | WsErrorCode::RateLimited => close::POLICY,
        _ => close::NORMAL,
    }
}
