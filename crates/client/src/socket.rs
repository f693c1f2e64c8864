//! The WebSocket: connect, authenticate with the first frame, then exchange frames.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use securechat_proto::ids::UserId;
use securechat_proto::ws::{ClientFrame, Protocol, ServerEvent};

use crate::{ClientError, TlsTrust};

/// An authenticated WebSocket.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    user_id: UserId,
    protocol: Option<u32>,
}

/// Whether a server frame that did not parse is of a type this client does not know (a newer
/// server's addition, skipped) rather than a known type gone wrong (an error).
fn of_unknown_type(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Tagged {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<Tagged>(text)
        .is_ok_and(|t| !ServerEvent::TYPES.contains(&t.kind.as_str()))
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

    /// Connects and authenticates, speaking [`Protocol::CURRENT`]; `since` is the last seq
    /// the caller holds. Returns once the server said `ready` (replay and `caught_up` follow
    /// as events). A server that does not speak this client's version refuses with
    /// `unsupported_protocol`, whose message says who should upgrade. Trusts the system's
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
            protocol: Some(Protocol::CURRENT.number()),
        };
        ws.send(Message::text(serde_json::to_string(&auth)?))
            .await?;
        let mut socket = Self {
            ws,
            user_id: UserId(uuid::Uuid::nil()),
            protocol: None,
        };
        match socket.next().await {
            Some(Ok(ServerEvent::Ready { user_id, protocol })) => {
                socket.user_id = user_id;
                socket.protocol = protocol;
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

    /// The protocol version the server said it speaks here (`None`: a server before 0.2.0,
    /// which spoke version 2 without saying so).
    pub fn protocol(&self) -> Option<u32> {
        self.protocol
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

    /// The next server event; `None` once the connection is closed. Events of a type this
    /// client does not know are skipped; unknown members are ignored.
    pub async fn next(&mut self) -> Option<Result<ServerEvent, ClientError>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => match serde_json::from_str(text.as_str()) {
                    Ok(event) => return Some(Ok(event)),
                    Err(_) if of_unknown_type(text.as_str()) => {}
                    Err(e) => return Some(Err(e.into())),
                },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_a_newer_server_are_read_or_skipped() {
        assert!(of_unknown_type(r#"{"type":"typing","user_id":"x"}"#));
        assert!(!of_unknown_type(
            r#"{"type":"presence","user_id":"x","online":true}"#
        ));
        assert!(!of_unknown_type("not json"));
        let ready: ServerEvent = serde_json::from_str(
            r#"{"type":"ready","user_id":"0193650e-2c00-7b0b-8b0b-b0b000000002","protocol":2,"later":{"a":1}}"#,
        )
        .expect("unknown members are ignored");
        assert!(matches!(
            ready,
            ServerEvent::Ready {
                protocol: Some(2),
                ..
            }
        ));
    }
}
