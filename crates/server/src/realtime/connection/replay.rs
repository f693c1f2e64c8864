//! Catching a connection up: `ready`, every stream event after the client's `since`, then
//! `caught_up`.

use securechat_proto::ws::{DeleteReason, ServerEvent, WsErrorCode};
use securechat_store::model::InboxEvent;
use securechat_store::StoreError;

use super::socket::{close, close_with};
use super::{Connection, Gone};
use crate::clock::now_ms;
use crate::metrics::STREAM_FILLS;
use crate::realtime::frames::encode;

/// Stream entries read per replay query.
const REPLAY_PAGE: u32 = 500;

impl Connection {
    /// Logs a store failure during the replay, says so to the client, and closes (1011).
    async fn replay_failed(&mut self, error: &StoreError, what: &str) -> Gone {
        tracing::error!(error = %error, "{what}");
        let message = "could not replay your messages; reconnect";
        self.error(WsErrorCode::Internal, message, None).await;
        close_with(&mut self.sink, self.deadline, close::INTERNAL, message).await;
        Gone
    }

    /// Says ready, replays the stream after `since`, then says caught up.
    pub(super) async fn start(&mut self, since: u64) -> Result<(), Gone> {
        self.send(encode(&ServerEvent::Ready {
            user_id: self.user,
            protocol: Some(self.protocol.number()),
        }))
        .await?;
        // A client claiming more than the stream holds (a broken client, or a server
        // restored from an older backup) resumes from the stream's real end; `caught_up`
        // tells it where that is.
        let last = match self.state.store().last_seq(self.user).await {
            Ok(last) => last,
            Err(e) => {
                return Err(self
                    .replay_failed(&e, "reading the stream position failed")
                    .await)
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
                Err(e) => return Err(self.replay_failed(&e, "replay failed").await),
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
        self.position = cursor;
        self.send(encode(&ServerEvent::CaughtUp { seq: cursor }))
            .await
    }

    /// Sends the stream's events after the position up to `to` from the store (events whose
    /// live word did not come), and moves the position there.
    pub(super) async fn fill(&mut self, to: u64) -> Result<(), Gone> {
        metrics::counter!(STREAM_FILLS).increment(1);
        while self.position < to {
            let limit = u32::try_from(to - self.position)
                .unwrap_or(REPLAY_PAGE)
                .min(REPLAY_PAGE);
            let page = self
                .state
                .store()
                .events_since(self.user, self.position, limit, now_ms())
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => return Err(self.replay_failed(&e, "reading missed events failed").await),
            };
            // Scanning `to - position` entries of a gap-free stream stops at `to`; anything
            // past it (were the stream ever not gap-free) is left for its own frame.
            for event in page.events.into_iter().filter(|e| seq_of(e) <= to) {
                match replayed(event) {
                    Some(event) => self.send(encode(&event)).await?,
                    None => tracing::error!("skipping a stored envelope that does not parse"),
                }
            }
            if page.last_scanned <= self.position {
                // The store does not hold `to` (it always should: word of an event is given
                // only after its commit). Sending past the hole would make the client skip
                // it for good; reconnecting makes it replay from what it holds.
                tracing::error!(
                    position = self.position,
                    to,
                    "the stream ends before an event known to be committed"
                );
                let message = "your stream is behind; reconnect";
                self.error(WsErrorCode::Internal, message, None).await;
                close_with(&mut self.sink, self.deadline, close::INTERNAL, message).await;
                return Err(Gone);
            }
            self.position = page.last_scanned.min(to);
        }
        Ok(())
    }
}

/// A stored stream event's `seq`.
fn seq_of(event: &InboxEvent) -> u64 {
    match event {
        InboxEvent::Message(m) => m.seq,
        InboxEvent::Deleted { seq, .. } | InboxEvent::Read { seq, .. } => *seq,
    }
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
            group: m.group,
        },
        InboxEvent::Deleted {
            seq,
            msg_id,
            from,
            tombstone,
            group,
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
            group,
        },
        InboxEvent::Read {
            seq,
            peer,
            up_to,
            group,
        } => ServerEvent::Read {
            peer,
            by: peer,
            up_to,
            seq: Some(seq),
            group,
        },
    })
}
