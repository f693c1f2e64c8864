//! One task per WebSocket: authenticate with the first frame, register, replay the user's
//! stream after `since`, then relay frames both ways until either side ends it or the server
//! shuts down.
//!
//! Shutdown (see `crate::lifecycle`): when the server starts stopping, a connection stops
//! reading frames; once every frame it had taken is answered (the delivery pipeline is
//! flushed), it sends what is queued for it and closes with 1012 ("restarting").

mod handlers;
mod replay;
mod socket;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use securechat_crypto::identity::IdentityKey;
use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::ws::{ClientFrame, Protocol, ServerEvent, WsErrorCode};

use crate::auth::extract::AuthUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::realtime::budget::{Lease, Rate};
use crate::realtime::frames::{encode, Outbound, Place};
use crate::realtime::hub::{ConnId, Control};
use crate::state::AppState;
use socket::{close, close_code, close_with, next_text, send, send_error, Incoming, Sink, Stream};

/// What the main loop does after handling a frame.
enum Flow {
    Continue,
    Close,
}

/// The socket is gone.
struct Gone;

fn unauthorized_text(error: &ApiError) -> String {
    match error {
        ApiError::Unauthorized(m) => (*m).to_owned(),
        _ => "could not check the token; retry".to_owned(),
    }
}

/// What a client naming protocol version `number`, which this server does not speak, is told.
fn unsupported_protocol_text(number: u32) -> String {
    let (oldest, newest) = (Protocol::OLDEST.number(), Protocol::CURRENT.number());
    let advice = if number > newest {
        "please upgrade the server (or use a client that speaks one of these)"
    } else {
        "please upgrade your client"
    };
    format!(
        "this server (securechat {}) speaks protocol versions {oldest}–{newest}, and your \
         client speaks {number}: {advice}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Refuses a connection before it is registered: an error frame, then a close frame.
async fn refuse(mut sink: Sink, deadline: Duration, code: WsErrorCode, message: &str) {
    send_error(&mut sink, deadline, code, message, None).await;
    close_with(&mut sink, deadline, close_code(code), message).await;
}

/// Serves one WebSocket to its end. `address` is the client's address as the server sees it
/// (after trusted proxies), for the per-address frame budget.
pub async fn run(socket: WebSocket, state: AppState, address: IpAddr) {
    let (mut sink, mut stream) = socket.split();
    let limits = state.settings().realtime.clone();
    let deadline = limits.write_timeout;
    let stopping = state.lifecycle().stopping.clone();
    let first = tokio::select! {
        first = tokio::time::timeout(limits.auth_timeout, next_text(&mut stream)) => first,
        () = stopping.cancelled() => {
            return close_with(&mut sink, deadline, close::RESTART, "server restarting").await;
        }
    };
    let text = match first {
        Err(_) => {
            return refuse(
                sink,
                deadline,
                WsErrorCode::AuthTimeout,
                "no auth frame within the time allowed",
            )
            .await
        }
        Ok(Incoming::Closed) => return,
        Ok(Incoming::Refused(code, reason)) => {
            return close_with(&mut sink, deadline, code, reason).await
        }
        Ok(Incoming::Text(text)) => text,
    };
    let Ok(ClientFrame::Auth {
        token,
        since,
        protocol,
    }) = serde_json::from_str::<ClientFrame>(&text)
    else {
        return refuse(
            sink,
            deadline,
            WsErrorCode::AuthRequired,
            "the first frame must be {\"type\":\"auth\",…}",
        )
        .await;
    };
    let protocol = match protocol {
        None => Protocol::UNSTATED,
        Some(number) => match Protocol::from_number(number) {
            Some(protocol) => protocol,
            None => {
                let message = unsupported_protocol_text(number);
                return refuse(sink, deadline, WsErrorCode::UnsupportedProtocol, &message).await;
            }
        },
    };
    let auth = match AuthUser::from_token(&state, &token).await {
        Ok(auth) => auth,
        Err(e) => {
            return refuse(
                sink,
                deadline,
                WsErrorCode::Unauthorized,
                &unauthorized_text(&e),
            )
            .await
        }
    };
    // Parsed once here (it was validated at registration); envelopes carrying it are then
    // routed without checking the point again.
    let identity_key = match state.store().get_user(auth.user_id).await {
        Ok(Some(user)) => match IdentityKey::from_bytes(&user.identity_key) {
            Ok(key) => key,
            Err(e) => {
                tracing::error!(error = %e, "a registered identity key does not parse");
                return refuse(
                    sink,
                    deadline,
                    WsErrorCode::Internal,
                    "the account's key is unusable",
                )
                .await;
            }
        },
        _ => {
            return refuse(
                sink,
                deadline,
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
        protocol,
        limits.max_connections_per_user,
    );
    let (conn_id, _) = match registered {
        Ok(r) => r,
        Err(_) => {
            return refuse(
                sink,
                deadline,
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
    let budget = state.budgets().join(
        auth.user_id,
        address,
        Rate {
            per_second: limits.frames_per_second,
            burst: limits.frame_burst,
        },
    );

    let mut conn = Connection {
        state,
        user: auth.user_id,
        session: auth.session_id,
        identity_key,
        conn_id,
        tx,
        sink,
        deadline,
        expires_at: auth.expires_at,
        position: 0,
        budget,
        protocol,
    };
    let ending = match conn.start(since.unwrap_or(0)).await {
        Ok(()) => conn.relay(&mut stream, rx, &control).await,
        Err(Gone) => None,
    };
    if let Some((code, reason)) = ending {
        close_with(&mut conn.sink, deadline, code, reason).await;
        // Read (and drop) what the client still sends until its close frame: closing a TCP
        // socket with unread data resets it, and the reset can destroy our close frame (and
        // the last answers before it) in the client's receive buffer.
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Close(_) = message {
                    break;
                }
            }
        })
        .await;
    }
}

/// How long a closing connection waits for the client's close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

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
    /// Longest wait for one write to the socket.
    deadline: Duration,
    /// Access-token expiry, Unix seconds; the socket closes then unless re-authenticated.
    expires_at: i64,
    /// The last seq of this user's stream sent to the client: everything up to it was sent,
    /// in order, once (see `Connection::forward`).
    position: u64,
    budget: Lease,
    /// The shapes this connection's client reads.
    protocol: Protocol,
}

impl Connection {
    async fn send(&mut self, frame: Utf8Bytes) -> Result<(), Gone> {
        send(&mut self.sink, Message::Text(frame), self.deadline)
            .await
            .map_err(|()| Gone)
    }

    async fn error(&mut self, code: WsErrorCode, message: &str, reference: Option<String>) {
        let code = self.protocol.error_code(code);
        send_error(&mut self.sink, self.deadline, code, message, reference).await;
    }

    /// A frame made for every connection, in this connection's protocol version: an error
    /// frame with a code its version does not have gets one it has (presence, the other
    /// frame that differs, is made per version by the hub).
    fn adapt(&self, text: Utf8Bytes) -> Utf8Bytes {
        if self.protocol == Protocol::CURRENT || !text.as_str().starts_with(r#"{"type":"error""#) {
            return text;
        }
        match serde_json::from_str::<ServerEvent>(text.as_str()) {
            Ok(ServerEvent::Error {
                code,
                message,
                reference,
            }) if self.protocol.error_code(code) != code => encode(&ServerEvent::Error {
                code: self.protocol.error_code(code),
                message,
                reference,
            }),
            _ => text,
        }
    }

    /// Sends a queued frame, keeping the client's stream gap-free, in order and without
    /// repeats: an event already sent is dropped; one that arrives past a gap (the word of
    /// events committed on another node is late, or lost) is preceded by the missing events,
    /// read from the store; a tip past the position fetches up to it.
    async fn forward(&mut self, out: Outbound) -> Result<(), Gone> {
        match out.place {
            Place::Outside => self.send(self.adapt(out.text)).await,
            Place::Event(seq) if seq <= self.position => Ok(()),
            Place::Ack(seq) if seq <= self.position => self.send(out.text).await,
            Place::Event(seq) | Place::Ack(seq) => {
                if seq > self.position + 1 {
                    self.fill(seq - 1).await?;
                }
                self.send(out.text).await?;
                self.position = self.position.max(seq);
                Ok(())
            }
            Place::Tip(seq) if seq > self.position => self.fill(seq).await,
            Place::Tip(_) => Ok(()),
            Place::Since(version) if self.protocol >= version => self.send(out.text).await,
            Place::Since(_) => Ok(()),
        }
    }

    /// Relays until the socket closes, the session is revoked, the token expires or the
    /// server shuts down. Returns the close frame to send, if any.
    async fn relay(
        &mut self,
        stream: &mut Stream,
        mut rx: mpsc::Receiver<Outbound>,
        control: &Control,
    ) -> Option<(u16, &'static str)> {
        let heartbeat = self.state.settings().realtime.heartbeat;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        let lifecycle = self.state.lifecycle().clone();
        // Made once, not at every turn of the loop: the tokens are shared by every
        // connection, and each new wait would lock them.
        let stop_asked = lifecycle.stopping.cancelled();
        let drained = lifecycle.drained.cancelled();
        tokio::pin!(stop_asked, drained);
        let mut stopping = false;
        loop {
            let expiry = token_deadline(self.expires_at);
            tokio::select! {
                biased;
                () = control.stop.cancelled() => {
                    let (code, message) = control
                        .reason()
                        .unwrap_or((WsErrorCode::Internal, "closed by the server"));
                    self.error(code, message, None).await;
                    return Some((close_code(code), message));
                }
                () = &mut drained, if stopping => {
                    // Every frame taken was answered: deliver what is queued, then go.
                    while let Ok(out) = rx.try_recv() {
                        self.forward(out).await.ok()?;
                    }
                    return Some((close::RESTART, "server restarting; reconnect"));
                }
                () = &mut stop_asked, if !stopping => {
                    // Take no more frames; answers to the ones taken still come through `rx`.
                    stopping = true;
                }
                () = tokio::time::sleep_until(expiry) => {
                    let message = "the access token expired; reconnect with a fresh one";
                    self.error(WsErrorCode::TokenExpired, message, None).await;
                    return Some((close::POLICY, "access token expired"));
                }
                out = rx.recv() => {
                    let out = out?;
                    self.forward(out).await.ok()?;
                }
                incoming = next_text(stream), if !stopping => match incoming {
                    Incoming::Text(text) => {
                        if let Flow::Close = self.handle(&text).await {
                            return Some((close::POLICY, "re-authentication failed"));
                        }
                    }
                    Incoming::Closed => return None,
                    Incoming::Refused(code, reason) => return Some((code, reason)),
                },
                _ = ping.tick() => {
                    send(&mut self.sink, Message::Ping(Default::default()), self.deadline)
                        .await
                        .ok()?;
                }
            }
        }
    }
}

/// When the access token expires, as a Tokio instant.
fn token_deadline(expires_at_secs: i64) -> tokio::time::Instant {
    let left_ms = (expires_at_secs * 1000 - now_ms()).max(0);
    tokio::time::Instant::now() + Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))
}
