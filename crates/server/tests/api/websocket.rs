//! WebSocket protocol errors: each gets a clear error frame, and the connection stays usable
//! where it should.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::rngs::OsRng;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

use securechat_client::socket::ws_url;
use securechat_client::{ClientError, Socket};
use securechat_crypto::envelope::{seal, Content, OutgoingMessage, RecipientKey, Sender};
use securechat_crypto::identity::EncryptionKeyPair;
use securechat_crypto::ids::ConvId;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{ClientFrame, ServerEvent, WsErrorCode};

use crate::helpers::{next_event, now_ms, spawn_app, spawn_app_with, wait_for, Peer, TestApp};

async fn error_of(socket: &mut Socket) -> WsErrorCode {
    wait_for(socket, |e| match e {
        ServerEvent::Error { code, .. } => Some(code),
        _ => None,
    })
    .await
}

async fn still_usable(socket: &mut Socket) {
    socket.send(&ClientFrame::Ping).await.expect("ping");
    wait_for(socket, |e| matches!(e, ServerEvent::Pong).then_some(())).await;
}

/// Reads raw frames until the server closes; returns the error codes it sent.
async fn codes_until_close(app: &TestApp, first: Option<String>) -> Vec<String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app.base))
        .await
        .expect("connect");
    if let Some(text) = first {
        ws.send(Message::text(text)).await.expect("send");
    }
    let mut codes = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
    {
        match message {
            Message::Text(text) => {
                let value: serde_json::Value = serde_json::from_str(text.as_str()).expect("json");
                codes.push(value["code"].as_str().unwrap_or_default().to_owned());
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    codes
}

#[tokio::test]
async fn a_socket_without_an_auth_frame_is_closed_with_a_reason() {
    let app = spawn_app_with(|s| s.realtime.auth_timeout = Duration::from_millis(300)).await;
    assert_eq!(codes_until_close(&app, None).await, ["auth_timeout"]);
    assert_eq!(
        codes_until_close(&app, Some(r#"{"type":"ping"}"#.to_owned())).await,
        ["auth_required"]
    );
    assert_eq!(
        codes_until_close(&app, Some(r#"{"type":"auth","token":"nope"}"#.to_owned())).await,
        ["unauthorized"]
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_on_the_socket() {
    let app = spawn_app().await;
    let alice = app.peer("alice").await;
    let token = alice.chat.api.access_token().await.expect("token");
    let claims_part = token.split('.').nth(1).expect("claims");
    let mut claims: serde_json::Value = {
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims_part)
                .expect("b64"),
        )
        .expect("json")
    };
    claims["exp"] = json!(now_ms() / 1000 - 5);
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    let expired = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(&app.token_secret()),
    )
    .expect("encode");

    let result = Socket::connect(&app.base, &expired, 0).await;

    match result {
        Err(ClientError::Ws { code, message }) => {
            assert_eq!(code, WsErrorCode::Unauthorized);
            assert!(message.contains("expired"), "{message}");
        }
        other => panic!(
            "expected an unauthorized frame, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[tokio::test]
async fn malformed_and_oversized_frames_get_errors_and_the_socket_stays_usable() {
    let app = spawn_app_with(|s| s.realtime.max_envelope_bytes = 4 * 1024).await;
    let alice = app.peer("alice").await;
    let mut socket = alice.socket(0).await;

    socket
        .send_text("{not json".to_owned())
        .await
        .expect("send");
    assert_eq!(error_of(&mut socket).await, WsErrorCode::MalformedFrame);
    still_usable(&mut socket).await;

    socket
        .send_text(r#"{"type":"teleport"}"#.to_owned())
        .await
        .expect("send");
    assert_eq!(error_of(&mut socket).await, WsErrorCode::MalformedFrame);

    let big = Envelope {
        v: 1,
        h: "A".repeat(2048),
        ct: "A".repeat(8 * 1024),
        sig: "A".repeat(86),
    };
    socket
        .send(&ClientFrame::Send { envelope: big })
        .await
        .expect("send");
    assert_eq!(error_of(&mut socket).await, WsErrorCode::EnvelopeTooLarge);
    still_usable(&mut socket).await;

    let garbage = Envelope {
        v: 1,
        h: "not-a-header".to_owned(),
        ct: String::new(),
        sig: String::new(),
    };
    socket
        .send(&ClientFrame::Send { envelope: garbage })
        .await
        .expect("send");
    assert_eq!(error_of(&mut socket).await, WsErrorCode::InvalidEnvelope);
    still_usable(&mut socket).await;
}

#[tokio::test]
async fn a_frame_beyond_the_frame_limit_closes_the_socket() {
    let app = spawn_app_with(|s| s.realtime.max_frame_bytes = 64 * 1024).await;
    let alice = app.peer("alice").await;
    let mut socket = alice.socket(0).await;
    wait_for(&mut socket, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;

    let _ = socket.send_text("x".repeat(100 * 1024)).await;

    let end = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("closed in time");
    assert!(
        end.is_none() || end.is_some_and(|r| r.is_err()),
        "the socket must close"
    );
}

/// An envelope from `from` to a user id nobody registered.
fn envelope_to_nobody(from: &Peer) -> (Envelope, String) {
    let nobody = UserId::generate();
    let key = EncryptionKeyPair::generate(&mut OsRng).public();
    let own = from.chat.keys.active_public();
    let sealed = seal(
        &mut OsRng,
        &Sender {
            user_id: from.id(),
            identity: from.chat.keys.identity(),
            own_keys: &own,
        },
        &OutgoingMessage {
            msg_id: None,
            conv_id: ConvId::direct(&from.id(), &nobody),
            sender_ctr: 1,
            sent_at_ms: now_ms(),
            expires_in_ms: None,
            hidden: false,
            content: &Content::Text {
                body: "hello?".to_owned(),
            },
            recipients: &[RecipientKey {
                user_id: nobody,
                key,
            }],
        },
    )
    .expect("seal");
    (sealed.envelope, sealed.msg_id.to_b64())
}

#[tokio::test]
async fn envelopes_for_unknown_users_or_from_someone_else_are_refused() {
    let app = spawn_app().await;
    let alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;

    let (envelope, id) = envelope_to_nobody(&alice);
    a.send(&ClientFrame::Send { envelope }).await.expect("send");
    let (code, reference) = wait_for(&mut a, |e| match e {
        ServerEvent::Error {
            code, reference, ..
        } => Some((code, reference)),
        _ => None,
    })
    .await;
    assert_eq!(code, WsErrorCode::UnknownRecipient);
    assert_eq!(reference.as_deref(), Some(id.as_str()));

    // Bob's envelope sent on alice's socket: the sender is not the authenticated user.
    let sealed = bob
        .chat
        .seal_text(alice.id(), "spoof", false, None)
        .await
        .expect("seal");
    a.send(&ClientFrame::Send {
        envelope: sealed.envelope,
    })
    .await
    .expect("send");
    assert_eq!(error_of(&mut a).await, WsErrorCode::InvalidEnvelope);

    // Self-destruct outside 5 s .. 7 days.
    let too_fast = bob
        .chat
        .seal_text(alice.id(), "1 s", false, Some(1_000))
        .await
        .expect("seal");
    let mut b = bob.socket(0).await;
    b.send(&ClientFrame::Send {
        envelope: too_fast.envelope,
    })
    .await
    .expect("send");
    assert_eq!(error_of(&mut b).await, WsErrorCode::InvalidEnvelope);
    still_usable(&mut b).await;
}

#[tokio::test]
async fn logout_closes_the_sessions_websockets() {
    let app = spawn_app().await;
    let alice = app.peer("alice").await;
    let mut socket = alice.socket(0).await;
    wait_for(&mut socket, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;

    alice.chat.api.logout().await.expect("logout");

    assert_eq!(error_of(&mut socket).await, WsErrorCode::SessionRevoked);
    let end = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("closed in time");
    assert!(end.is_none() || end.is_some_and(|r| r.is_err()));
}

#[tokio::test]
async fn connections_per_user_and_frame_rate_are_limited() {
    let app = spawn_app_with(|s| {
        s.realtime.max_connections_per_user = 2;
        s.realtime.frames_per_second = 1;
        s.realtime.frame_burst = 3;
    })
    .await;
    let alice = app.peer("alice").await;
    let mut first = alice.socket(0).await;
    let _second = alice.socket(0).await;
    let token = alice.chat.api.access_token().await.expect("token");
    match Socket::connect(&app.base, &token, 0).await {
        Err(ClientError::Ws { code, .. }) => assert_eq!(code, WsErrorCode::TooManyConnections),
        other => panic!("expected too_many_connections, got {:?}", other.map(|_| ())),
    }

    for _ in 0..4 {
        first.send(&ClientFrame::Ping).await.expect("ping");
    }
    let mut pongs = 0;
    let mut limited = 0;
    while pongs + limited < 4 {
        match next_event(&mut first).await {
            ServerEvent::Pong => pongs += 1,
            ServerEvent::Error {
                code: WsErrorCode::RateLimited,
                ..
            } => limited += 1,
            _ => {}
        }
    }
    assert_eq!((pongs, limited), (3, 1));
}

#[tokio::test]
async fn a_foreign_origin_cannot_open_a_websocket() {
    let app = spawn_app().await;
    let mut request = ws_url(&app.base).into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().expect("header"));

    let refused = tokio_tungstenite::connect_async(request).await;

    match refused {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let mut same = ws_url(&app.base).into_client_request().expect("request");
    let origin = app.base.clone();
    same.headers_mut()
        .insert("origin", origin.parse().expect("header"));
    assert!(tokio_tungstenite::connect_async(same).await.is_ok());
}

#[tokio::test]
async fn a_password_change_closes_the_other_sessions_websockets() {
    let app = spawn_app().await;
    let alice = app.peer("alice").await;
    let laptop = alice.new_device().await;
    let mut other = laptop.socket(0).await;
    let mut own = alice.socket(0).await;
    wait_for(&mut other, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;
    wait_for(&mut own, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;

    alice
        .chat
        .api
        .change_password(&alice.password, "a brand new passphrase")
        .await
        .expect("change password");

    assert_eq!(error_of(&mut other).await, WsErrorCode::SessionRevoked);
    // The session that changed the password keeps its socket.
    still_usable(&mut own).await;
}

/// Opens a raw socket and sends `auth` naming `protocol` (none: a 0.1.0 client).
async fn raw_auth(app: &TestApp, token: &str, protocol: Option<u32>) -> RawSocket {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app.base))
        .await
        .expect("connect");
    let mut auth = json!({"type": "auth", "token": token, "since": 0});
    if let Some(number) = protocol {
        auth["protocol"] = json!(number);
    }
    ws.send(Message::text(auth.to_string()))
        .await
        .expect("auth");
    ws
}

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame as JSON, or the close code once the server closed.
async fn raw_next(ws: &mut RawSocket) -> Result<serde_json::Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("json"))
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code.into())),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

#[tokio::test]
async fn a_protocol_version_the_server_does_not_speak_is_refused_in_plain_words() {
    let app = spawn_app().await;
    let alice = app.peer("alice").await;
    let token = alice.chat.api.access_token().await.expect("token");
    for (number, advice) in [
        (4, "please upgrade the server"),
        (0, "please upgrade your client"),
    ] {
        let mut ws = raw_auth(&app, &token, Some(number)).await;
        let error = raw_next(&mut ws).await.expect("an error frame");
        assert_eq!(error["type"], "error");
        assert_eq!(error["code"], "unsupported_protocol");
        let message = error["message"].as_str().expect("message");
        assert!(
            message.contains("speaks protocol versions 1–3")
                && message.contains(&format!("your client speaks {number}"))
                && message.contains(advice),
            "{message}"
        );
        assert_eq!(raw_next(&mut ws).await, Err(Some(1008)), "then closed");
    }
}

#[tokio::test]
async fn each_connection_is_answered_in_the_protocol_version_its_client_speaks() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.peer("alice").await,
        app.peer("bob").await,
        app.peer("carol").await,
    );
    let token = |peer: &Peer| {
        let peer = peer.chat.api.session().expect("session");
        peer.access_token
    };
    // Alice speaks version 1, Bob names none (a 0.1.0 client), Carol's client is current.
    let mut old = raw_auth(&app, &token(&alice), Some(1)).await;
    let ready = raw_next(&mut old).await.expect("ready");
    assert_eq!(
        (ready["type"].clone(), ready["protocol"].clone()),
        (json!("ready"), json!(1))
    );
    let mut unstated = raw_auth(&app, &token(&bob), None).await;
    let ready = raw_next(&mut unstated).await.expect("ready");
    assert_eq!(ready["protocol"], 2, "no protocol named: 0.1.0's shapes");
    let current = carol.socket(0).await;
    assert_eq!(current.protocol(), Some(3));

    // Presence: version 1 gets one frame per other user, the others gathered lists.
    let mut seen_by_old = std::collections::HashSet::new();
    while seen_by_old.len() < 2 {
        let frame = raw_next(&mut old).await.expect("a frame");
        if frame["type"] != "presence" {
            continue;
        }
        let keys: Vec<&String> = frame.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 3, "type, user_id, online: {frame}");
        assert_eq!(frame["online"], true);
        let about = frame["user_id"].as_str().expect("user_id").to_owned();
        assert_ne!(about, alice.id().to_string(), "never about its own user");
        seen_by_old.insert(about);
    }
    assert_eq!(
        seen_by_old,
        [bob.id().to_string(), carol.id().to_string()].into()
    );
    let gathered = loop {
        let frame = raw_next(&mut unstated).await.expect("a frame");
        if frame["type"] == "presence" {
            break frame;
        }
    };
    assert!(
        gathered["online"].is_array() && gathered["offline"].is_array(),
        "{gathered}"
    );

    // Carol leaves: version 1 is told in its own shape.
    current.close().await;
    loop {
        let frame = raw_next(&mut old).await.expect("a frame");
        if frame["type"] == "presence" && frame["user_id"] == carol.id().to_string() {
            assert_eq!(frame["online"], false);
            break;
        }
    }
    // Everything else is the same shape in both versions.
    old.send(Message::text(r#"{"type":"ping"}"#))
        .await
        .expect("ping");
    assert_eq!(raw_next(&mut old).await.expect("pong")["type"], "pong");
}
