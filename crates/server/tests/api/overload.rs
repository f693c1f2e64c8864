//! Connections that misbehave: silent or trickling HTTP clients, many connections from one
//! address, WebSocket readers that never read, frame floods spread over sockets or accounts,
//! frames the server will not read, and a metrics listener of its own.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use securechat_client::socket::ws_url;
use securechat_proto::ws::{ClientFrame, ServerEvent, WsErrorCode};

use crate::helpers::{spawn_app_with, wait_for, Peer, TestApp};

type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("address")
}

/// A TCP connection to the app from the given loopback address.
async fn tcp_from(app: &TestApp, ip: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((ip, 0)))
        .expect("bind loopback");
    socket.connect(addr(app)).await.expect("connect")
}

/// Whether the server closes the connection within `within` (reads until EOF).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A raw WebSocket, authenticated and caught up.
async fn raw_socket(app: &TestApp, peer: &Peer) -> Raw {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app.base))
        .await
        .expect("connect");
    let token = peer.chat.api.access_token().await.expect("token");
    let auth = serde_json::to_string(&ClientFrame::Auth {
        token,
        since: Some(0),
        protocol: Some(securechat_proto::ws::Protocol::CURRENT.number()),
    })
    .expect("json");
    ws.send(Message::text(auth)).await.expect("auth");
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("caught up in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = message {
            if text.as_str().contains("\"caught_up\"") {
                return ws;
            }
        }
    }
}

/// Reads until the server's close frame; returns its code.
async fn close_code(ws: &mut Raw) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
}

#[tokio::test]
async fn connections_that_send_nothing_or_trickle_their_headers_are_closed() {
    let app = spawn_app_with(|s| s.connections.header_timeout = Duration::from_secs(1)).await;
    let mut silent = tcp_from(&app, [127, 0, 0, 1]).await;
    let mut trickle = tcp_from(&app, [127, 0, 0, 1]).await;
    let (mut reader, mut writer) = trickle.split();
    let trickling = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let closed = async {
        let mut buf = [0u8; 256];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
        loop {
            match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    };
    let trickle_closed = tokio::select! {
        closed = closed => closed,
        () = trickling => false,
    };
    assert!(trickle_closed, "a trickling client must be cut off");
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "a silent connection must be closed"
    );
}

#[tokio::test]
async fn open_connections_per_address_are_capped() {
    let app = spawn_app_with(|s| s.connections.max_per_address = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tcp_from(&app, [127, 0, 0, 7]).await);
    }
    let mut fourth = tcp_from(&app, [127, 0, 0, 7]).await;
    assert!(
        closed_within(&mut fourth, Duration::from_secs(2)).await,
        "the fourth connection from one address is closed at once"
    );
    // Another address is not affected.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 8]))
        .build()
        .expect("client");
    let ok = other
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert!(ok.status().is_success());
    // A place freed is a place taken again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = tcp_from(&app, [127, 0, 0, 7]).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    again.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_reader_that_never_reads_is_disconnected_and_resumes_without_loss() {
    let app = spawn_app_with(|s| {
        s.realtime.outbound_queue = 16;
        s.realtime.write_timeout = Duration::from_secs(1);
    })
    .await;
    let mut alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    wait_for(&mut a, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;
    // Bob's socket authenticates, then never reads again.
    let stalled = raw_socket(&app, &bob).await;
    let mut sent = Vec::new();
    let mut bob_offline = false;
    for i in 0..400 {
        let sealed = alice
            .chat
            .seal_text(
                bob.id(),
                &format!("{i}:{}", "y".repeat(25_000)),
                false,
                None,
            )
            .await
            .expect("seal");
        let id = sealed.msg_id.to_b64();
        a.send(&ClientFrame::Send {
            envelope: sealed.envelope,
        })
        .await
        .expect("send");
        wait_for(&mut a, |e| match e {
            ServerEvent::Ack { msg_id, .. } if msg_id == id => Some(()),
            ServerEvent::Presence { offline, .. } => {
                bob_offline |= offline.contains(&bob.id());
                None
            }
            _ => None,
        })
        .await;
        sent.push(id);
    }
    // The server gives up on Bob's socket: he goes offline, though his socket is open.
    if !bob_offline {
        let went_offline = tokio::time::timeout(
            Duration::from_secs(15),
            wait_for(&mut a, |e| match e {
                ServerEvent::Presence { offline, .. } if offline.contains(&bob.id()) => Some(()),
                _ => None,
            }),
        )
        .await;
        assert!(went_offline.is_ok(), "a reader that never reads is dropped");
    }
    drop(stalled);
    // Everything is still there for Bob when he comes back.
    let received = bob.stored_message_ids().await;
    assert_eq!(received, sent);
}

/// Sends `n` pings on each socket; returns (pongs, rate-limited errors) over all of them.
async fn pings(sockets: &mut [securechat_client::Socket], n: usize) -> (usize, usize) {
    for socket in sockets.iter_mut() {
        for _ in 0..n {
            socket.send(&ClientFrame::Ping).await.expect("ping");
        }
    }
    let (mut pongs, mut limited) = (0, 0);
    for socket in sockets.iter_mut() {
        for _ in 0..n {
            match wait_for(socket, |e| match e {
                ServerEvent::Pong => Some(None),
                ServerEvent::Error { code, .. } => Some(Some(code)),
                _ => None,
            })
            .await
            {
                None => pongs += 1,
                Some(WsErrorCode::RateLimited) => limited += 1,
                Some(other) => panic!("unexpected error {other:?}"),
            }
        }
    }
    (pongs, limited)
}

#[tokio::test]
async fn sockets_of_one_user_share_one_frame_budget() {
    let app = spawn_app_with(|s| {
        s.realtime.frames_per_second_per_user = 1;
        s.realtime.frame_burst_per_user = 20;
    })
    .await;
    let alice = app.peer("alice").await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut socket = alice.socket(0).await;
        wait_for(&mut socket, |e| {
            matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
        })
        .await;
        sockets.push(socket);
    }
    let (pongs, limited) = pings(&mut sockets, 15).await;
    assert!(pongs <= 22, "three sockets got {pongs} frames through");
    assert!(limited >= 23, "{limited} refused");
}

#[tokio::test]
async fn accounts_behind_one_address_share_one_frame_budget() {
    let app = spawn_app_with(|s| {
        s.realtime.frames_per_second_per_address = 1;
        s.realtime.frame_burst_per_address = 20;
    })
    .await;
    let mut sockets = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let peer = app.peer(name).await;
        let mut socket = peer.socket(0).await;
        wait_for(&mut socket, |e| {
            matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
        })
        .await;
        sockets.push(socket);
    }
    let (pongs, limited) = pings(&mut sockets, 15).await;
    assert!(pongs <= 22, "one address got {pongs} frames through");
    assert!(limited >= 23, "{limited} refused");
}

#[tokio::test]
async fn oversized_frames_close_with_1009_and_invalid_utf8_with_1007() {
    let app = spawn_app_with(|s| s.realtime.max_frame_bytes = 64 * 1024).await;
    let alice = app.peer("alice").await;

    let mut ws = raw_socket(&app, &alice).await;
    ws.send(Message::text("x".repeat(100 * 1024)))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1009));

    let mut ws = raw_socket(&app, &alice).await;
    let frame = Frame::message(vec![0xff, 0xfe, 0x80], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(frame)).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1007));
}

#[tokio::test]
async fn metrics_can_live_on_their_own_listener_only() {
    let app = spawn_app_with(|s| s.metrics_on_main = false).await;
    let public = reqwest::get(app.url("/metrics")).await.expect("metrics");
    assert_eq!(public.status(), reqwest::StatusCode::NOT_FOUND);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let metrics_addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(securechat_server::serve_metrics(
        listener,
        app.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let private = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("metrics");
    assert!(private.status().is_success());
    assert!(private.text().await.expect("text").contains("securechat_"));
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
}
