//! A relay in front of a real server that loses one live event, as a node can when the node
//! that stored an event announces it late or not at all: on its first WebSocket it drops the
//! first `message` frame that comes after `caught_up`. Every other byte (REST requests, later
//! WebSockets) passes unchanged.
//!
//! Started with `Relay::start_as(upstream, Behaviour::SpeakProtocol(n))` it instead ends its
//! first WebSocket once caught up (a server restarting) and, on every later one, rewrites the
//! client's `auth` frame to name protocol version `n` (as if the server after the restart did
//! not speak the client's version).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// What the relay does to WebSockets.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Loses the first live `message` of the first socket.
    LoseOneLiveMessage,
    /// Ends the first socket once caught up; later sockets' `auth` names this version.
    SpeakProtocol(u32),
}

/// The relay; it runs until dropped.
pub struct Relay {
    pub base: String,
    dropped: Arc<AtomicUsize>,
    sockets: Arc<AtomicUsize>,
    /// Its tasks end with it.
    _runtime: tokio::runtime::Runtime,
}

impl Relay {
    /// Relays to the server at `upstream` (`http://HOST:PORT`), losing one live message.
    pub fn start(upstream: &str) -> Self {
        Self::start_as(upstream, Behaviour::LoseOneLiveMessage)
    }

    /// Relays to the server at `upstream`, doing `behaviour` to its WebSockets.
    pub fn start_as(upstream: &str, behaviour: Behaviour) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream address");
        let dropped = Arc::new(AtomicUsize::new(0));
        let sockets = Arc::new(AtomicUsize::new(0));
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let (d, s) = (dropped.clone(), sockets.clone());
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, server, d.clone(), s.clone(), behaviour));
            }
        });
        Self {
            base: format!("http://{addr}"),
            dropped,
            sockets,
            _runtime: runtime,
        }
    }

    /// Live frames it dropped.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// WebSockets it relayed.
    pub fn sockets(&self) -> usize {
        self.sockets.load(Ordering::SeqCst)
    }
}

/// Whether a connection opens with a WebSocket request (its first bytes, waited for briefly).
async fn is_websocket(client: &TcpStream) -> bool {
    const START: &[u8] = b"GET /api/v1/ws";
    let mut buf = [0u8; 14];
    for _ in 0..100 {
        match client.peek(&mut buf).await {
            Ok(n) if n >= START.len() => return buf.starts_with(START),
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    false
}

async fn relay(
    mut client: TcpStream,
    server: SocketAddr,
    dropped: Arc<AtomicUsize>,
    sockets: Arc<AtomicUsize>,
    behaviour: Behaviour,
) {
    if !is_websocket(&client).await {
        if let Ok(mut upstream) = TcpStream::connect(server).await {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        return;
    }
    let first = sockets.fetch_add(1, Ordering::SeqCst) == 0;
    let Ok(downstream) = tokio_tungstenite::accept_async(client).await else {
        return;
    };
    let Ok((upstream, _)) =
        tokio_tungstenite::connect_async(format!("ws://{server}/api/v1/ws")).await
    else {
        return;
    };
    let (mut to_client, mut from_client) = downstream.split();
    let (mut to_server, mut from_server) = upstream.split();
    let up = async move {
        while let Some(Ok(mut message)) = from_client.next().await {
            if let (Behaviour::SpeakProtocol(version), false, Message::Text(text)) =
                (behaviour, first, &message)
            {
                if let Ok(mut frame) = serde_json::from_str::<serde_json::Value>(text.as_str()) {
                    if frame["type"] == "auth" {
                        frame["protocol"] = version.into();
                        message = Message::text(frame.to_string());
                    }
                }
            }
            if to_server.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    let down = async move {
        let mut live = false;
        while let Some(Ok(message)) = from_server.next().await {
            if let Message::Text(text) = &message {
                let kind = serde_json::from_str::<serde_json::Value>(text.as_str())
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned));
                match kind.as_deref() {
                    Some("caught_up")
                        if first && matches!(behaviour, Behaviour::SpeakProtocol(_)) =>
                    {
                        let _ = to_client.send(message).await;
                        break;
                    }
                    Some("caught_up") => live = true,
                    Some("message")
                        if first
                            && live
                            && matches!(behaviour, Behaviour::LoseOneLiveMessage)
                            && dropped.load(Ordering::SeqCst) == 0 =>
                    {
                        dropped.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    _ => {}
                }
            }
            if to_client.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_client.close().await;
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
