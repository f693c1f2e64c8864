//! The WebSocket: connect, authenticate with the first frame, then exchange frames.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use securechat_proto::ids::UserId;
use securechat_proto::ws::{ClientFrame, ServerEvent};

use crate::{ClientError, TlsTrust};

/// An authenticated WebSocket.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    user_id: UserId,
}

/// `http://host` → `ws://host/api/v1/ws` (and https → wss).
pub fn ws_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_owned());
    format!("{rest}/api/v1/ws")
}

impl Socket {
    /// Opens the raw WebSocket without authenticating (tests use it to misbehave), trusting
    /// the system's certificate authorities.
    pub async fn open_raw(
        base: &str,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, ClientError> {
        Self::open_raw_trusting(base, &TlsTrust::system()?).await
    }

    /// Opens the raw WebSocket without authenticating, trusting `trust` for `wss://`.
    pub async fn open_raw_trusting(
        base: &str,
        trust: &TlsTrust,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, ClientError> {
        let connector = Connector::Rustls(trust.rustls_config());
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            ws_url(base),
            None,
            false,
            Some(connector),
        )
        .await?;
        Ok(ws)
    }

    /// Connects and authenticates; `since` is the last seq the caller holds. Returns once the
    /// server said `ready` (replay and `caught_up` follow as events). Trusts the system's
    /// certificate authorities.
    pub async fn connect(base: &str, token: &str, since: u64) -> Result<Self, ClientError> {
        Self::connect_trusting(base, token, since, &TlsTrust::system()?).await
    }

    /// [`Socket::connect`], trusting `trust` for `wss://` (e.g. [`crate::Api::trust`]).
    pub async fn connect_trusting(
        base: &str,
        token: &str,
        since: u64,
        trust: &TlsTrust,
    ) -> Result<Self, ClientError> {
        let mut ws = Self::open_raw_trusting(base, trust).await?;
        let auth = ClientFrame::Auth {
            token: token.to_owned(),
            since: Some(since),
        };
        ws.send(Message::text(serde_json::to_string(&auth)?))
            .await?;
        let mut socket = Self {
            ws,
            user_id: UserId(uuid::Uuid::nil()),
        };
        match socket.next().await {
            Some(Ok(ServerEvent::Ready { user_id })) => {
                socket.user_id = user_id;
                Ok(socket)
            }
            Some(Ok(ServerEvent::Error { code, message, .. })) => {
                Err(ClientError::Ws { code, message })
            }
            Some(Ok(other)) => Err(ClientError::Invalid(format!(
                "expected ready, got {other:?}"
            ))),
            Some(Err(e)) => Err(e),
            None => Err(ClientError::Transport(
                "the server closed the connection".into(),
            )),
        }
    }

    /// The authenticated user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Sends a frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.send_text(serde_json::to_string(frame)?).await
    }

    /// Sends raw text (tests of malformed frames).
    pub async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// The next server event; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Result<ServerEvent, ClientError>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(text.as_str()).map_err(ClientError::from))
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
