//! Graceful shutdown: every frame the server took is answered before its socket closes with
//! 1012, and what it acknowledged is stored.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use securechat_client::socket::ws_url;
use securechat_proto::ws::{ClientFrame, ServerEvent, WsErrorCode};

use crate::helpers::{spawn_app, spawn_in};

#[tokio::test]
async fn shutdown_answers_every_frame_taken_then_closes_sockets_with_1012() {
    let app = spawn_app().await;
    let mut alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;

    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app.base))
        .await
        .expect("connect");
    let token = alice.chat.api.access_token().await.expect("token");
    let auth = ClientFrame::Auth {
        token,
        since: Some(0),
        protocol: Some(securechat_proto::ws::Protocol::CURRENT.number()),
    };
    ws.send(Message::text(serde_json::to_string(&auth).expect("json")))
        .await
        .expect("auth");

    // Sealed before the clock starts, so the frames go out back to back.
    let mut frames = Vec::new();
    let mut ids = Vec::new();
    for i in 0..600 {
        let sealed = alice
            .chat
            .seal_text(bob.id(), &format!("m{i}"), false, None)
            .await
            .expect("seal");
        ids.push(sealed.msg_id.to_b64());
        let frame = ClientFrame::Send {
            envelope: sealed.envelope,
        };
        frames.push(serde_json::to_string(&frame).expect("json"));
    }
    let (mut sink, mut stream) = ws.split();
    let sending = tokio::spawn(async move {
        for frame in frames {
            if sink.send(Message::text(frame)).await.is_err() {
                break;
            }
        }
        sink
    });
    // Stop the server while frames are still arriving.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let stopping = tokio::spawn(app.stop());

    let mut answers: HashMap<String, Result<(), WsErrorCode>> = HashMap::new();
    let mut close_code = None;
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(15), stream.next()).await
    {
        match message {
            Ok(Message::Text(text)) => match serde_json::from_str(text.as_str()) {
                Ok(ServerEvent::Ack { msg_id, .. }) => {
                    answers.insert(msg_id, Ok(()));
                }
                Ok(ServerEvent::Error {
                    code,
                    reference: Some(msg_id),
                    ..
                }) => {
                    answers.insert(msg_id, Err(code));
                }
                _ => {}
            },
            Ok(Message::Close(frame)) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = sending.await;
    let dir = stopping.await.expect("stopped");
    assert_eq!(
        close_code,
        Some(1012),
        "sockets close with 'service restart'"
    );
    let acked: HashSet<&String> = answers
        .iter()
        .filter(|(_, a)| a.is_ok())
        .map(|(id, _)| id)
        .collect();
    let refused: Vec<_> = answers.values().filter_map(|a| a.err()).collect();
    assert!(
        refused.iter().all(|c| *c == WsErrorCode::Unavailable),
        "only retryable refusals: {refused:?}"
    );
    assert!(!acked.is_empty());
    // Answers come in the order the frames went out: no frame taken is left unanswered
    // before one that was answered.
    let answered: Vec<bool> = ids.iter().map(|id| answers.contains_key(id)).collect();
    let last = answered.iter().rposition(|a| *a).expect("some answered");
    assert!(answered[..=last].iter().all(|a| *a), "a gap in the answers");
    eprintln!(
        "sent {}, acknowledged {}, refused {}, unanswered (never read) {}",
        ids.len(),
        acked.len(),
        refused.len(),
        ids.len() - answers.len()
    );

    // Everything acknowledged was stored.
    let app = spawn_in(dir, |_| {}).await;
    bob.log_in_to(&app).await;
    let stored: HashSet<String> = bob.stored_message_ids().await.into_iter().collect();
    assert!(acked.iter().all(|id| stored.contains(*id)));
    app.stop().await;
}
