//! Chat clients of a cluster test: people registered through the client library, and
//! sessions that stay connected to whichever node answers (as behind a load balancer),
//! resume from the last `seq` they hold, resend what was not acknowledged, and record every
//! event in the order it came.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use securechat_client::chat::{Chat, ChatState};
use securechat_client::{Api, KeyRing, Socket};
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{ClientFrame, ServerEvent};

pub const PASSWORD: &str = "correct horse battery staple";

/// A registered, logged-in person.
pub struct Person {
    pub id: UserId,
    pub token: String,
    pub chat: Chat,
}

/// Registers `name` through `base` and logs in.
pub async fn person(base: &str, name: &str) -> Person {
    let keys = KeyRing::generate();
    let api = Api::new(base).expect("an API client");
    let request = keys
        .registration(name, &format!("{name}@example.org"))
        .expect("a registration");
    api.register(request, PASSWORD).await.expect("register");
    let session = api.login(name, PASSWORD).await.expect("log in");
    Person {
        id: session.user_id,
        token: session.access_token,
        chat: Chat::new(api, keys, ChatState::default()),
    }
}

/// What one session saw.
#[derive(Debug, Default)]
pub struct Record {
    /// The last seq held (the resume point).
    pub position: u64,
    /// Messages received, in order: (seq, envelope signature).
    pub messages: Vec<(u64, String)>,
    /// When each of `messages` came.
    pub received_at: Vec<Instant>,
    /// Deletions received, in order: (seq, msg_id).
    pub deletions: Vec<(u64, String)>,
    /// Acks: msg_id → seq.
    pub acked: HashMap<String, u64>,
    /// Breaks of the stream's order: (held, got).
    pub anomalies: Vec<(u64, u64)>,
    /// Connections made.
    pub connects: u32,
    /// Presence as last told: user → online.
    pub presence: HashMap<UserId, bool>,
    /// Error frames received (code, message).
    pub errors: Vec<String>,
}

impl Record {
    fn stream_event(&mut self, seq: u64) -> bool {
        if seq == self.position + 1 {
            self.position = seq;
            true
        } else {
            self.anomalies.push((self.position, seq));
            self.position = self.position.max(seq);
            false
        }
    }

    fn handle(&mut self, event: ServerEvent, pending: &mut Vec<(String, Envelope)>) -> bool {
        match event {
            ServerEvent::Message { seq, envelope, .. } => {
                let in_order = self.stream_event(seq);
                if in_order {
                    self.messages.push((seq, envelope.sig));
                    self.received_at.push(Instant::now());
                }
            }
            ServerEvent::Deleted { seq, msg_id, .. } => {
                let in_order = self.stream_event(seq);
                if in_order {
                    self.deletions.push((seq, msg_id));
                }
            }
            ServerEvent::Read { seq: Some(seq), .. } => {
                self.stream_event(seq);
            }
            ServerEvent::Ack { msg_id, seq, .. } => {
                if seq > self.position {
                    self.stream_event(seq);
                }
                pending.retain(|(id, _)| *id != msg_id);
                self.acked.insert(msg_id, seq);
            }
            ServerEvent::CaughtUp { seq } if seq != self.position => {
                self.anomalies.push((self.position, seq));
            }
            ServerEvent::Presence { online, offline } => {
                for user in online {
                    self.presence.insert(user, true);
                }
                for user in offline {
                    self.presence.insert(user, false);
                }
            }
            ServerEvent::Error { code, message, .. } => {
                self.errors.push(format!("{code:?}: {message}"));
                // A message refused for now (the node is stopping or its database away):
                // reconnect, and resend what was not acknowledged.
                return false;
            }
            _ => {}
        }
        true
    }
}

/// What a session is asked to send.
enum Outgoing {
    /// A message, resent after each reconnection until acknowledged.
    Message(String, Envelope),
    /// A frame sent once.
    Frame(ClientFrame),
}

/// A session kept connected to one of `nodes`, starting with `first`.
pub struct Session {
    pub record: Arc<Mutex<Record>>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Session {
    pub fn start(nodes: Vec<String>, first: usize, token: String) -> Self {
        let record = Arc::new(Mutex::new(Record::default()));
        let (outbox, rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(nodes, first, token, record.clone(), rx, stop.clone()));
        Self {
            record,
            outbox,
            stop,
            task,
        }
    }

    /// Sends a message (again after every reconnection until acknowledged).
    pub fn send(&self, msg_id: String, envelope: Envelope) {
        let _ = self.outbox.send(Outgoing::Message(msg_id, envelope));
    }

    /// Sends a frame once, if connected.
    pub fn send_frame(&self, frame: ClientFrame) {
        let _ = self.outbox.send(Outgoing::Frame(frame));
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn jitter(base_ms: u64) -> Duration {
    Duration::from_millis(base_ms + rand::random::<u64>() % base_ms.max(1))
}

async fn run(
    nodes: Vec<String>,
    mut at: usize,
    token: String,
    record: Arc<Mutex<Record>>,
    mut outbox: mpsc::UnboundedReceiver<Outgoing>,
    stop: CancellationToken,
) {
    let lock = || {
        record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let mut pending: Vec<(String, Envelope)> = Vec::new();
    while !stop.is_cancelled() {
        let base = &nodes[at % nodes.len()];
        let since = lock().position;
        let connected =
            tokio::time::timeout(Duration::from_secs(5), Socket::connect(base, &token, since))
                .await;
        let Ok(Ok(mut socket)) = connected else {
            at += 1;
            tokio::time::sleep(jitter(100)).await;
            continue;
        };
        lock().connects += 1;
        let mut alive = true;
        for (_, envelope) in pending.clone() {
            let frame = ClientFrame::Send { envelope };
            if socket.send(&frame).await.is_err() {
                alive = false;
                break;
            }
        }
        while alive {
            tokio::select! {
                () = stop.cancelled() => {
                    socket.close().await;
                    return;
                }
                item = outbox.recv() => match item {
                    Some(Outgoing::Message(id, envelope)) => {
                        pending.push((id, envelope.clone()));
                        alive = socket.send(&ClientFrame::Send { envelope }).await.is_ok();
                    }
                    Some(Outgoing::Frame(frame)) => alive = socket.send(&frame).await.is_ok(),
                    None => return,
                },
                event = socket.next() => match event {
                    Some(Ok(event)) => alive = lock().handle(event, &mut pending),
                    _ => alive = false,
                },
            }
        }
        // The node went away (or refused): the next one, as a load balancer would.
        at += 1;
        tokio::time::sleep(jitter(50)).await;
    }
}
