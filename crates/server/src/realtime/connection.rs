//! One task per WebSocket: authenticate with the first frame, register, replay the user's
//! stream after `since`, then relay frames both ways until either side ends it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use securechat_crypto::identity::IdentityKey;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::ws::{ClientFrame, DeleteReason, ServerEvent, WsErrorCode};
use securechat_store::model::{InboxEvent, NewMessage};

use crate::auth::extract::AuthUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::realtime::delivery::{Deletion, Job, Origin, Pending, Receipt};
use crate::realtime::frames::{encode, error_text};
use crate::realtime::hub::{ConnId, Control, Outbound};
use crate::realtime::routing::{self, Kind, Routing};
use crate::state::AppState;

/// Stream entries read per replay query.
const REPLAY_PAGE: u32 = 500;
/// Shortest and longest self-destruct delays accepted.
const MIN_EXPIRY_MS: u64 = 5_000;
const MAX_EXPIRY_MS: u64 = 7 * 24 * 3600 * 1000;

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// What the main loop does after handling a frame.
enum Flow {
    Continue,
    Close,
}

/// A token bucket for client frames.
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The next text frame, skipping control frames; `None` when the socket ends. A binary
/// frame yields an empty string (rejected as malformed).
async fn next_text(stream: &mut Stream) -> Option<Utf8Bytes> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(text)) => return Some(text),
            Ok(Message::Binary(_)) => return Some(Utf8Bytes::from_static("")),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

async fn send_error(sink: &mut Sink, code: WsErrorCode, message: &str, reference: Option<String>) {
    let _ = sink
        .send(Message::Text(error_text(code, message, reference)))
        .await;
}

async fn refuse(mut sink: Sink, code: WsErrorCode, message: &str) {
    send_error(&mut sink, code, message, None).await;
    let _ = sink.close().await;
}

fn unauthorized_text(error: &ApiError) -> String {
    match error {
        ApiError::Unauthorized(m) => (*m).to_owned(),
        _ => "could not check the token; retry".to_owned(),
    }
}

/// Serves one WebSocket to its end.
pub async fn run(socket: WebSocket, state: AppState) {
    let (sink, mut stream) = socket.split();
    let limits = state.settings().realtime.clone();
    let first = tokio::time::timeout(limits.auth_timeout, next_text(&mut stream)).await;
    let text = match first {
        Err(_) => {
            return refuse(
                sink,
                WsErrorCode::AuthTimeout,
                "no auth frame within the time allowed",
            )
            .await
        }
        Ok(None) => return,
        Ok(Some(text)) => text,
    };
    let Ok(ClientFrame::Auth { token, since }) = serde_json::from_str::<ClientFrame>(&text) else {
        return refuse(
            sink,
            WsErrorCode::AuthRequired,
            "the first frame must be {\"type\":\"auth\",…}",
        )
        .await;
    };
    let auth = match AuthUser::from_token(&state, &token).await {
        Ok(auth) => auth,
        Err(e) => return refuse(sink, WsErrorCode::Unauthorized, &unauthorized_text(&e)).await,
    };
    // Parsed once here (it was validated at registration); envelopes carrying it are then
    // routed without checking the point again.
    let identity_key = match state.store().get_user(auth.user_id).await {
        Ok(Some(user)) => match IdentityKey::from_bytes(&user.identity_key) {
            Ok(key) => key,
            Err(e) => {
                tracing::error!(error = %e, "a registered identity key does not parse");
                return refuse(sink, WsErrorCode::Internal, "the account's key is unusable").await;
            }
        },
        _ => {
            return refuse(
                sink,
                WsErrorCode::Unauthorized,
                "the account no longer exists",
            )
            .await
        }
    };

    let (tx, rx) = mpsc::channel(limits.outbound_queue);
    let control = Arc::new(Control::default());
    let registered = state.hub().register(
        auth.user_id,
        auth.session_id,
        tx.clone(),
        control.clone(),
        limits.max_connections_per_user,
    );
    let (conn_id, _) = match registered {
        Ok(r) => r,
        Err(_) => {
            return refuse(
                sink,
                WsErrorCode::TooManyConnections,
                "too many open connections for this account",
            )
            .await
        }
    };
    let _registration = Registration {
        state: state.clone(),
        user: auth.user_id,
        conn: conn_id,
    };

    let mut conn = Connection {
        state,
        user: auth.user_id,
        session: auth.session_id,
        identity_key,
        conn_id,
        tx,
        sink,
        expires_at: auth.expires_at,
        replayed_to: 0,
        bucket: Bucket {
            tokens: f64::from(limits.frame_burst),
            capacity: f64::from(limits.frame_burst),
            per_second: f64::from(limits.frames_per_second),
            last: Instant::now(),
        },
    };
    if conn.start(since.unwrap_or(0)).await.is_ok() {
        conn.relay(stream, rx, &control).await;
    }
    let _ = conn.sink.close().await;
}

/// Unregisters on drop (the hub notes the user offline when this was their last connection).
struct Registration {
    state: AppState,
    user: UserId,
    conn: ConnId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.state.hub().unregister(self.user, self.conn);
    }
}

struct Connection {
    state: AppState,
    user: UserId,
    session: SessionId,
    identity_key: IdentityKey,
    conn_id: ConnId,
    tx: mpsc::Sender<Outbound>,
    sink: Sink,
    /// Access-token expiry, Unix seconds; the socket closes then unless re-authenticated.
    expires_at: i64,
    /// Highest seq sent by the replay; live events up to it are duplicates.
    replayed_to: u64,
    bucket: Bucket,
}

/// The socket is gone.
struct Gone;

impl Connection {
    async fn send(&mut self, frame: Utf8Bytes) -> Result<(), Gone> {
        self.sink.send(Message::Text(frame)).await.map_err(|_| Gone)
    }

    async fn error(&mut self, code: WsErrorCode, message: &str, reference: Option<String>) {
        send_error(&mut self.sink, code, message, reference).await;
    }

    /// Says ready, replays the stream after `since`, then says caught up.
    async fn start(&mut self, since: u64) -> Result<(), Gone> {
        self.send(encode(&ServerEvent::Ready { user_id: self.user }))
            .await?;
        // A client claiming more than the stream holds (a broken client, or a server
        // restored from an older backup) resumes from the stream's real end; `caught_up`
        // tells it where that is.
        let last = match self.state.store().last_seq(self.user).await {
            Ok(last) => last,
            Err(e) => {
                tracing::error!(error = %e, "reading the stream position failed");
                self.error(
                    WsErrorCode::Internal,
                    "could not replay your messages; reconnect",
                    None,
                )
                .await;
                return Err(Gone);
            }
        };
        let mut cursor = since.min(last);
        loop {
            let page = self
                .state
                .store()
                .events_since(self.user, cursor, REPLAY_PAGE, now_ms())
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "replay failed");
                    self.error(
                        WsErrorCode::Internal,
                        "could not replay your messages; reconnect",
                        None,
                    )
                    .await;
                    return Err(Gone);
                }
            };
            for event in page.events {
                match replayed(event) {
                    Some(event) => self.send(encode(&event)).await?,
                    None => tracing::error!("skipping a stored envelope that does not parse"),
                }
            }
            cursor = page.last_scanned;
            if !page.more {
                break;
            }
        }
        self.replayed_to = cursor;
        self.send(encode(&ServerEvent::CaughtUp { seq: cursor }))
            .await
    }

    /// Relays until the socket closes, the session is revoked or the token expires.
    async fn relay(
        &mut self,
        mut stream: Stream,
        mut rx: mpsc::Receiver<Outbound>,
        control: &Control,
    ) {
        let heartbeat = self.state.settings().realtime.heartbeat;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        loop {
            let expiry = token_deadline(self.expires_at);
            tokio::select! {
                biased;
                () = control.stop.cancelled() => {
                    if let Some((code, message)) = control.reason() {
                        self.error(code, message, None).await;
                    }
                    return;
                }
                () = tokio::time::sleep_until(expiry) => {
                    self.error(WsErrorCode::TokenExpired, "the access token expired; reconnect with a fresh one", None).await;
                    return;
                }
                out = rx.recv() => {
                    let Some(out) = out else { return };
                    if out.seq.is_some_and(|s| s <= self.replayed_to) {
                        continue;
                    }
                    if self.send(out.text).await.is_err() {
                        return;
                    }
                }
                text = next_text(&mut stream) => {
                    let Some(text) = text else { return };
                    if let Flow::Close = self.handle(&text).await {
                        return;
                    }
                }
                _ = ping.tick() => {
                    if self.sink.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, text: &str) -> Flow {
        if !self.bucket.take() {
            self.error(
                WsErrorCode::RateLimited,
                "too many frames; this one was dropped",
                None,
            )
            .await;
            return Flow::Continue;
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.error(
                    WsErrorCode::MalformedFrame,
                    &format!("not a valid frame: {e}"),
                    None,
                )
                .await;
                return Flow::Continue;
            }
        };
        match frame {
            ClientFrame::Auth { token, .. } => return self.reauth(&token).await,
            ClientFrame::Send { envelope } => self.send_message(envelope).await,
            ClientFrame::Delete { envelope } => self.delete(envelope).await,
            ClientFrame::Read { peer, up_to } => self.read(peer, up_to).await,
            ClientFrame::Ping => {
                if self.send(encode(&ServerEvent::Pong)).await.is_err() {
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    async fn reauth(&mut self, token: &str) -> Flow {
        match AuthUser::from_token(&self.state, token).await {
            Ok(auth) if auth.user_id == self.user && auth.session_id == self.session => {
                self.expires_at = auth.expires_at;
                Flow::Continue
            }
            Ok(_) => {
                self.error(
                    WsErrorCode::Unauthorized,
                    "re-authentication must use the same session",
                    None,
                )
                .await;
                Flow::Close
            }
            Err(e) => {
                self.error(WsErrorCode::Unauthorized, &unauthorized_text(&e), None)
                    .await;
                Flow::Close
            }
        }
    }

    /// Parses and checks an envelope's routing header; answers the error itself.
    async fn route(&mut self, envelope: &Envelope, kinds: &[Kind]) -> Option<Routing> {
        let max = self.state.settings().realtime.max_envelope_bytes;
        if envelope.wire_len() > max {
            self.error(
                WsErrorCode::EnvelopeTooLarge,
                &format!("the envelope is larger than {max} bytes"),
                None,
            )
            .await;
            return None;
        }
        let routing = match routing::parse(envelope, &self.identity_key) {
            Ok(r) => r,
            Err(e) => {
                self.error(WsErrorCode::InvalidEnvelope, &e, None).await;
                return None;
            }
        };
        let reference = Some(routing.msg_id_text.clone());
        let problem = if routing.sender != self.user {
            Some("the envelope's sender is not you")
        } else if routing.sender_ik != self.identity_key.to_bytes() {
            Some("the envelope's identity key is not your registered one")
        } else if !kinds.contains(&routing.kind) {
            Some("this envelope kind is not accepted here")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error(WsErrorCode::InvalidEnvelope, problem, reference)
                .await;
            return None;
        }
        Some(routing)
    }

    async fn send_message(&mut self, envelope: Envelope) {
        let Some(routing) = self.route(&envelope, &[Kind::Msg, Kind::File]).await else {
            return;
        };
        let reference = Some(routing.msg_id_text.clone());
        let recipient = match routing.recipients.as_slice() {
            [one] if *one != self.user => *one,
            _ => {
                return self
                    .error(
                        WsErrorCode::InvalidEnvelope,
                        "a message must have exactly one recipient besides you",
                        reference,
                    )
                    .await
            }
        };
        if let Some(ms) = routing.expires_in_ms {
            if !(MIN_EXPIRY_MS..=MAX_EXPIRY_MS).contains(&ms) {
                return self
                    .error(
                        WsErrorCode::InvalidEnvelope,
                        "expires_in_ms must be between 5 seconds and 7 days",
                        reference,
                    )
                    .await;
            }
        }
        match self.state.user_exists(recipient).await {
            Ok(true) => {}
            Ok(false) => {
                return self
                    .error(
                        WsErrorCode::UnknownRecipient,
                        "the recipient does not exist",
                        reference,
                    )
                    .await
            }
            Err(e) => {
                tracing::error!(error = %e, "recipient lookup failed");
                return self
                    .error(WsErrorCode::Internal, "retry later", reference)
                    .await;
            }
        }
        let text = serde_json::to_string(&envelope).unwrap_or_default();
        let received_at = now_ms();
        let pending = Pending {
            message: NewMessage {
                sender: self.user,
                recipient,
                msg_id: routing.msg_id,
                digest: Sha256::digest(text.as_bytes()).into(),
                envelope: text,
                received_at,
                expires_at: routing
                    .expires_in_ms
                    .map(|ms| received_at + i64::try_from(ms).unwrap_or(0)),
                files: routing.files,
            },
            msg_id: routing.msg_id_text,
            origin: self.origin(),
            received: Instant::now(),
        };
        if self
            .state
            .delivery()
            .submit(Job::Append(pending))
            .await
            .is_err()
        {
            self.error(
                WsErrorCode::Internal,
                "the server is shutting down",
                reference,
            )
            .await;
        }
    }

    async fn delete(&mut self, envelope: Envelope) {
        let Some(routing) = self.route(&envelope, &[Kind::Delete]).await else {
            return;
        };
        let reference = Some(routing.msg_id_text.clone());
        let Some(target) = routing.reference else {
            return self
                .error(
                    WsErrorCode::InvalidEnvelope,
                    "a tombstone must name the message in `ref`",
                    reference,
                )
                .await;
        };
        if routing::verify(&envelope, &self.identity_key).is_err() {
            return self
                .error(
                    WsErrorCode::InvalidEnvelope,
                    "the tombstone's signature does not verify",
                    reference,
                )
                .await;
        }
        let job = Job::Delete(Deletion {
            sender: self.user,
            target,
            tombstone: envelope,
            msg_id: routing.msg_id_text,
            origin: self.origin(),
        });
        if self.state.delivery().submit(job).await.is_err() {
            self.error(
                WsErrorCode::Internal,
                "the server is shutting down",
                reference,
            )
            .await;
        }
    }

    async fn read(&mut self, peer: UserId, up_to: i64) {
        if peer == self.user {
            return self
                .error(
                    WsErrorCode::MalformedFrame,
                    "peer must be another user",
                    None,
                )
                .await;
        }
        match self.state.user_exists(peer).await {
            Ok(true) => {}
            _ => {
                return self
                    .error(WsErrorCode::UnknownRecipient, "no such user", None)
                    .await
            }
        }
        let job = Job::Read(Receipt {
            reader: self.user,
            peer,
            up_to,
            origin: self.origin(),
        });
        if self.state.delivery().submit(job).await.is_err() {
            self.error(WsErrorCode::Internal, "the server is shutting down", None)
                .await;
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            conn: self.conn_id,
            tx: self.tx.clone(),
        }
    }
}

/// When the access token expires, as a Tokio instant.
fn token_deadline(expires_at_secs: i64) -> tokio::time::Instant {
    let left_ms = (expires_at_secs * 1000 - now_ms()).max(0);
    tokio::time::Instant::now() + Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))
}

/// A stored stream event as the frame replay sends.
/// `None` for a stored envelope that no longer parses (never served half-broken).
fn replayed(event: InboxEvent) -> Option<ServerEvent> {
    Some(match event {
        InboxEvent::Message(m) => ServerEvent::Message {
            seq: m.seq,
            from: m.from,
            ts: m.ts,
            envelope: serde_json::from_str(&m.envelope).ok()?,
            expires_at: m.expires_at,
        },
        InboxEvent::Deleted {
            seq,
            msg_id,
            from,
            tombstone,
        } => ServerEvent::Deleted {
            msg_id: securechat_proto::b64::encode(msg_id),
            seq,
            from,
            reason: if tombstone.is_some() {
                DeleteReason::Deleted
            } else {
                DeleteReason::Expired
            },
            envelope: tombstone.and_then(|t| serde_json::from_str(&t).ok()),
        },
        InboxEvent::Read { seq, peer, up_to } => ServerEvent::Read {
            peer,
            by: peer,
            up_to,
            seq: Some(seq),
        },
    })
}
