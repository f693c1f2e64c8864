//! `GET /api/v1/ws`: the WebSocket upgrade. Authentication happens in the first frame, never
//! in the URL; browsers' `Origin` must be allowed.

use std::net::SocketAddr;

use std::sync::Arc;

use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::{Json, Router};

use securechat_proto::error::{ErrorBody, ErrorCode};

use crate::auth::client_ip::client_ip;
use crate::auth::origin::{refusal, websocket_allowed};
use crate::listen::ConnectionSlot;
use crate::realtime::connection;
use crate::state::AppState;

/// Bytes read from a socket at a time; small, since most connections are idle.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes buffered for writing before a flush.
const WRITE_BUFFER: usize = 8 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/ws", get(upgrade))
}

/// `GET /api/v1/ws`: upgrades to a WebSocket speaking the frames of docs/PROTOCOL.md.
#[utoipa::path(get, path = "/api/v1/ws", tag = "messages",
    responses(
        (status = 101, description = "switching to WebSocket; the first frame must be `auth`"),
        (status = 403, description = "Origin not allowed", body = ErrorBody),
        (status = 503, description = "the server is shutting down", body = ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    slot: Option<Extension<Arc<ConnectionSlot>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if state.lifecycle().stopping.is_cancelled() {
        let body = ErrorBody {
            error: ErrorCode::Unavailable,
            message: "the server is restarting; reconnect in a moment".to_owned(),
            field: None,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let limits = &state.settings().realtime;
    if !websocket_allowed(&headers, &limits.allowed_origins) {
        let shown = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        tracing::warn!(
            origin = %shown(header::ORIGIN),
            host = %shown(header::HOST),
            "WebSocket refused: {}",
            refusal(&headers, &limits.allowed_origins)
        );
        let body = ErrorBody {
            error: ErrorCode::Forbidden,
            message: "this Origin may not open a WebSocket here".to_owned(),
            field: None,
        };
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| {
            let address = client_ip(peer, &headers, &state.settings().trusted_proxies);
            let sockets = state.lifecycle().sockets.clone();
            sockets.track_future(async move {
                // The connection keeps its place in its address's count while it is open.
                let _slot = slot;
                connection::run(socket, state, address).await;
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            map.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        map
    }

    #[test]
    fn only_the_same_or_listed_origins_may_connect() {
        assert!(websocket_allowed(&headers(None, "chat.example.org"), &[]));
        assert!(websocket_allowed(
            &headers(Some("https://chat.example.org"), "chat.example.org"),
            &[]
        ));
        assert!(!websocket_allowed(
            &headers(Some("https://evil.example"), "chat.example.org"),
            &[]
        ));
        assert!(!websocket_allowed(
            &headers(Some("null"), "chat.example.org"),
            &[]
        ));
        let listed = vec!["https://app.example.org".to_owned()];
        assert!(websocket_allowed(
            &headers(Some("https://app.example.org"), "api.example.org"),
            &listed
        ));
        assert!(!websocket_allowed(
            &headers(Some("https://chat.example.org"), "chat.example.org"),
            &listed
        ));
    }
}
