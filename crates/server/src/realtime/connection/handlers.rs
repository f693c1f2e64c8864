//! Frames from the client once it is caught up: sends, deletes, read receipts,
//! re-authentication and pings.

use std::time::Instant;

use sha2::{Digest as _, Sha256};

use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{ClientFrame, ServerEvent, WsErrorCode};
use securechat_store::model::{NewGroupMessage, NewMessage};
use uuid::Uuid;

use super::{unauthorized_text, Connection, Flow};
use crate::auth::extract::AuthUser;
use crate::clock::now_ms;
use crate::realtime::budget::Exhausted;
use crate::realtime::frames::encode;
use crate::realtime::routing::{self, Kind, Routing};
use crate::realtime::work::{Conversation, Deletion, GroupPending, Job, Origin, Pending, Receipt};

/// Shortest and longest self-destruct delays accepted.
const MIN_EXPIRY_MS: u64 = 5_000;
const MAX_EXPIRY_MS: u64 = 7 * 24 * 3600 * 1000;
/// Bytes an envelope may grow past the size limit for each user it is wrapped for beyond two
/// (a wrap is about 260 bytes of base64 in the header), so that a message to a group of 256
/// fits as a 1:1 message does.
const WRAP_ALLOWANCE: usize = 288;
/// Most users an envelope can be wrapped for (docs/PROTOCOL.md §7.2).
const MAX_WRAPPED_USERS: usize = 512;

impl Connection {
    pub(super) async fn handle(&mut self, text: &str) -> Flow {
        if let Err(exhausted) = self.budget.take() {
            let message = match exhausted {
                Exhausted::Connection => "too many frames on this connection; this one was dropped",
                Exhausted::User => "too many frames from your account; this one was dropped",
                Exhausted::Address => "too many frames from your address; this one was dropped",
            };
            self.error(WsErrorCode::RateLimited, message, None).await;
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
            ClientFrame::Read { peer, group, up_to } => self.read(peer, group, up_to).await,
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
        let too_large = |wrapped: usize| {
            let limit = max + WRAP_ALLOWANCE * wrapped.saturating_sub(2);
            (envelope.wire_len() > limit).then(|| {
                format!("the envelope is larger than {limit} bytes ({max} for two users, {WRAP_ALLOWANCE} more for each further user it is wrapped for)")
            })
        };
        if let Some(problem) = too_large(MAX_WRAPPED_USERS) {
            self.error(WsErrorCode::EnvelopeTooLarge, &problem, None)
                .await;
            return None;
        }
        let routing = match routing::parse(envelope, &self.identity_key) {
            Ok(r) => r,
            // Past the limit for two users, an envelope that does not parse is answered as
            // too large: only a group message's further wraps may take it past that.
            Err(_) if envelope.wire_len() > max => {
                let problem = too_large(2).unwrap_or_default();
                self.error(WsErrorCode::EnvelopeTooLarge, &problem, None)
                    .await;
                return None;
            }
            Err(e) => {
                self.error(WsErrorCode::InvalidEnvelope, &e, None).await;
                return None;
            }
        };
        let reference = Some(routing.msg_id_text.clone());
        if let Some(problem) = too_large(routing.wrapped.len()) {
            self.error(WsErrorCode::EnvelopeTooLarge, &problem, reference)
                .await;
            return None;
        }
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
        if let Some(group) = routing.group() {
            return self.send_group_message(envelope, routing, group).await;
        }
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
        let Some(message) = self.new_message(&envelope, &routing, recipient).await else {
            return;
        };
        let pending = Pending {
            message,
            msg_id: routing.msg_id_text,
            origin: self.origin(),
            received: Instant::now(),
        };
        self.submit(Job::Append(pending), reference).await;
    }

    /// Sends a group message: the store checks the sender's membership and the wraps
    /// against the group's members when it stores it.
    async fn send_group_message(&mut self, envelope: Envelope, routing: Routing, group: Uuid) {
        let reference = Some(routing.msg_id_text.clone());
        let Some(message) = self.new_message(&envelope, &routing, UserId(group)).await else {
            return;
        };
        let pending = GroupPending {
            message: NewGroupMessage {
                message,
                group,
                wrapped: routing.wrapped,
            },
            msg_id: routing.msg_id_text,
            origin: self.origin(),
            received: Instant::now(),
        };
        self.submit(Job::AppendGroup(pending), reference).await;
    }

    /// The message to store for an envelope (`None`: answered with an error).
    async fn new_message(
        &mut self,
        envelope: &Envelope,
        routing: &Routing,
        recipient: UserId,
    ) -> Option<NewMessage> {
        let text = match serde_json::to_string(envelope) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(error = %e, "an envelope could not be serialised");
                self.error(
                    WsErrorCode::Internal,
                    "retry later",
                    Some(routing.msg_id_text.clone()),
                )
                .await;
                return None;
            }
        };
        let received_at = now_ms();
        Some(NewMessage {
            sender: self.user,
            recipient,
            msg_id: routing.msg_id,
            digest: Sha256::digest(text.as_bytes()).into(),
            envelope: text,
            received_at,
            expires_at: routing
                .expires_in_ms
                .map(|ms| received_at + i64::try_from(ms).unwrap_or(0)),
            files: routing.files.clone(),
        })
    }

    /// Queues a job for the delivery task; says so when the server is stopping.
    async fn submit(&mut self, job: Job, reference: Option<String>) {
        if self.state.delivery().submit(job).await.is_err() {
            self.error(
                WsErrorCode::Unavailable,
                "the server is restarting; nothing was stored, send again after reconnecting",
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
            group: routing.group(),
            target,
            tombstone: envelope,
            msg_id: routing.msg_id_text,
            origin: self.origin(),
        });
        self.submit(job, reference).await;
    }

    async fn read(&mut self, peer: Option<UserId>, group: Option<Uuid>, up_to: i64) {
        let peer = match (peer, group) {
            (Some(peer), None) => peer,
            (None, Some(group)) => {
                let job = Job::Read(Receipt {
                    reader: self.user,
                    peer: Conversation::Group(group),
                    up_to,
                    origin: self.origin(),
                });
                return self.submit(job, None).await;
            }
            _ => {
                return self
                    .error(
                        WsErrorCode::MalformedFrame,
                        "a read frame names either `peer` or `group`",
                        None,
                    )
                    .await
            }
        };
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
            peer: Conversation::Direct(peer),
            up_to,
            origin: self.origin(),
        });
        if self.state.delivery().submit(job).await.is_err() {
            self.error(
                WsErrorCode::Unavailable,
                "the server is restarting; send again after reconnecting",
                None,
            )
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
