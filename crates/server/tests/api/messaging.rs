//! End-to-end messaging between real clients over the real WebSocket.

use securechat_client::chat::Received;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{ClientFrame, DeleteReason, ServerEvent, WsErrorCode};

use crate::helpers::{spawn_app, spawn_in, wait_for, Peer};

/// Sends an envelope and waits for its ack; returns the ack's seq.
async fn send_acked(
    socket: &mut securechat_client::Socket,
    envelope: Envelope,
    msg_id: &str,
) -> u64 {
    socket
        .send(&ClientFrame::Send { envelope })
        .await
        .expect("send");
    wait_for(socket, |e| match e {
        ServerEvent::Ack {
            msg_id: id, seq, ..
        } if id == msg_id => Some(seq),
        ServerEvent::Error { code, message, .. } => panic!("send refused: {code:?} {message}"),
        _ => None,
    })
    .await
}

/// Waits for the next message event: (seq, from, ts, envelope).
async fn next_message(socket: &mut securechat_client::Socket) -> (u64, UserId, i64, Envelope) {
    wait_for(socket, |e| match e {
        ServerEvent::Message {
            seq,
            from,
            ts,
            envelope,
            ..
        } => Some((seq, from, ts, envelope)),
        _ => None,
    })
    .await
}

async fn caught_up(socket: &mut securechat_client::Socket) -> u64 {
    wait_for(socket, |e| match e {
        ServerEvent::CaughtUp { seq } => Some(seq),
        _ => None,
    })
    .await
}

/// Alice and Bob, registered, each with a WebSocket that has caught up.
struct Online {
    alice: Peer,
    bob: Peer,
    a: securechat_client::Socket,
    b: securechat_client::Socket,
}

async fn online_pair(app: &crate::helpers::TestApp) -> Online {
    let alice = app.peer("alice").await;
    let bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    let mut b = bob.socket(0).await;
    caught_up(&mut a).await;
    caught_up(&mut b).await;
    Online { alice, bob, a, b }
}

fn text(received: &Received) -> &str {
    match received {
        Received::Text { body } => body,
        _ => panic!("not a text message"),
    }
}

async fn send_text(
    from: &mut Peer,
    socket: &mut securechat_client::Socket,
    to: UserId,
    body: &str,
) -> (String, u64) {
    let sealed = from
        .chat
        .seal_text(to, body, false, None)
        .await
        .expect("seal");
    let id = sealed.msg_id.to_b64();
    let seq = send_acked(socket, sealed.envelope, &id).await;
    (id, seq)
}

#[tokio::test]
async fn text_messages_flow_both_ways_and_only_ciphertext_is_stored() {
    let app = spawn_app().await;
    let Online {
        mut alice,
        mut bob,
        mut a,
        mut b,
    } = online_pair(&app).await;

    send_text(&mut alice, &mut a, bob.id(), "hello bob").await;
    let (_, from, ts, envelope) = next_message(&mut b).await;
    assert_eq!(from, alice.id());
    let opened = bob.chat.open(from, ts, &envelope).await.expect("open");
    assert_eq!(text(&opened.content), "hello bob");
    assert!(!opened.hidden);

    send_text(&mut bob, &mut b, alice.id(), "hi alice").await;
    let (_, from, ts, envelope) = next_message(&mut a).await;
    let opened = alice.chat.open(from, ts, &envelope).await.expect("open");
    assert_eq!(text(&opened.content), "hi alice");

    // The database holds no plaintext (read byte for byte on SQLite; both backends store the
    // same envelope text).
    if app.data.is_sqlite() {
        let db = std::fs::read(app.dir.path().join("securechat.db")).expect("db");
        let wal = std::fs::read(app.dir.path().join("securechat.db-wal")).unwrap_or_default();
        for bytes in [&db, &wal] {
            assert!(!bytes.windows(9).any(|w| w == b"hello bob"));
        }
    }
}

#[tokio::test]
async fn the_sender_reads_its_own_history_decrypted_on_a_new_device() {
    let app = spawn_app().await;
    let mut alice = app.peer("alice").await;
    let bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    caught_up(&mut a).await;
    for body in ["one", "two", "three"] {
        send_text(&mut alice, &mut a, bob.id(), body).await;
    }

    let mut laptop = alice.new_device().await;
    let page = laptop
        .chat
        .api
        .history(bob.id(), None, 50)
        .await
        .expect("history");

    assert_eq!(page.messages.len(), 3);
    let mut bodies = Vec::new();
    for item in page.messages.iter().rev() {
        let opened = laptop
            .chat
            .open(item.from, item.ts, &item.envelope)
            .await
            .expect("open own copy");
        bodies.push(text(&opened.content).to_owned());
    }
    assert_eq!(bodies, ["one", "two", "three"]);
    // A third user has no conversation with alice's messages in it.
    let carol = app.peer("carol").await;
    let theirs = carol
        .chat
        .api
        .history(bob.id(), None, 50)
        .await
        .expect("history");
    assert!(theirs.messages.is_empty());
}

#[tokio::test]
async fn offline_messages_are_delivered_on_reconnect_and_resume_has_no_gap() {
    let app = spawn_app().await;
    let mut alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    caught_up(&mut a).await;
    for i in 0..3 {
        send_text(&mut alice, &mut a, bob.id(), &format!("offline {i}")).await;
    }

    let mut b = bob.socket(0).await;
    let mut seqs = Vec::new();
    for i in 0..3 {
        let (seq, from, ts, envelope) = next_message(&mut b).await;
        let opened = bob.chat.open(from, ts, &envelope).await.expect("open");
        assert_eq!(text(&opened.content), format!("offline {i}"));
        seqs.push(seq);
    }
    let last = caught_up(&mut b).await;
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(last, 3);
    b.close().await;

    for i in 3..5 {
        send_text(&mut alice, &mut a, bob.id(), &format!("offline {i}")).await;
    }
    let mut b = bob.socket(last).await;
    let (seq, ..) = next_message(&mut b).await;
    assert_eq!(seq, 4);
    let (seq, ..) = next_message(&mut b).await;
    assert_eq!(seq, 5);
    assert_eq!(caught_up(&mut b).await, 5);
}

#[tokio::test]
async fn a_repeated_msg_id_is_acknowledged_again_and_stored_once() {
    let app = spawn_app().await;
    let mut alice = app.peer("alice").await;
    let bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    caught_up(&mut a).await;
    let sealed = alice
        .chat
        .seal_text(bob.id(), "once", false, None)
        .await
        .expect("seal");
    let id = sealed.msg_id.to_b64();

    let first = send_acked(&mut a, sealed.envelope.clone(), &id).await;
    let again = send_acked(&mut a, sealed.envelope.clone(), &id).await;
    assert_eq!(first, again);
    let page = bob
        .chat
        .api
        .history(alice.id(), None, 50)
        .await
        .expect("history");
    assert_eq!(page.messages.len(), 1);

    // The same msg_id with other content is refused.
    let mut altered = sealed.envelope;
    let mut ct = securechat_proto::b64::decode(&altered.ct).expect("ct");
    ct[0] ^= 1;
    altered.ct = securechat_proto::b64::encode(ct);
    a.send(&ClientFrame::Send { envelope: altered })
        .await
        .expect("send");
    let code = wait_for(&mut a, |e| match e {
        ServerEvent::Error {
            code, reference, ..
        } if reference.as_deref() == Some(id.as_str()) => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, WsErrorCode::DuplicateConflict);
}

#[tokio::test]
async fn hidden_flag_round_trips_inside_the_ciphertext() {
    let app = spawn_app().await;
    let Online {
        mut alice,
        mut bob,
        mut a,
        mut b,
    } = online_pair(&app).await;

    let sealed = alice
        .chat
        .seal_text(bob.id(), "psst", true, None)
        .await
        .expect("seal");
    let id = sealed.msg_id.to_b64();
    send_acked(&mut a, sealed.envelope, &id).await;
    let (_, from, ts, envelope) = next_message(&mut b).await;
    let opened = bob.chat.open(from, ts, &envelope).await.expect("open");

    assert!(opened.hidden);
    assert_eq!(text(&opened.content), "psst");
    // Nothing in the envelope's header says "hidden".
    let header = securechat_proto::b64::decode(&envelope.h).expect("h");
    assert!(!String::from_utf8_lossy(&header).contains("hidden"));
}

#[tokio::test]
async fn a_delete_reaches_both_sides_live_and_offline_sessions_on_reconnect() {
    let app = spawn_app().await;
    let Online {
        mut alice,
        mut bob,
        mut a,
        mut b,
    } = online_pair(&app).await;
    let (id, _) = send_text(&mut alice, &mut a, bob.id(), "regret").await;
    let (_, from, ts, envelope) = next_message(&mut b).await;
    bob.chat.open(from, ts, &envelope).await.expect("open");

    let target = securechat_crypto::ids::MsgId::from_b64(&id).expect("id");
    let tombstone = alice
        .chat
        .seal_delete(bob.id(), target)
        .await
        .expect("tombstone");
    a.send(&ClientFrame::Delete {
        envelope: tombstone.envelope,
    })
    .await
    .expect("send");

    let mut tombstones = Vec::new();
    for socket in [&mut a, &mut b] {
        let (msg_id, reason, envelope) = wait_for(socket, |e| match e {
            ServerEvent::Deleted {
                msg_id,
                reason,
                envelope,
                ..
            } => Some((msg_id, reason, envelope)),
            _ => None,
        })
        .await;
        assert_eq!(msg_id, id);
        assert_eq!(reason, DeleteReason::Deleted);
        tombstones.push(envelope.expect("signed tombstone attached"));
    }
    let opened = bob
        .chat
        .open(alice.id(), 0, &tombstones[1])
        .await
        .expect("tombstone verifies");
    assert!(matches!(opened.content, Received::Delete { target: t } if t == target));
    let page = bob
        .chat
        .api
        .history(alice.id(), None, 50)
        .await
        .expect("history");
    assert!(page.messages.is_empty());

    // A session that was offline learns it from its stream.
    let later = bob.new_device().await;
    let mut b2 = later.socket(0).await;
    let (msg_id, seq) = wait_for(&mut b2, |e| match e {
        ServerEvent::Message { .. } => panic!("deleted message replayed"),
        ServerEvent::Deleted { msg_id, seq, .. } => Some((msg_id, seq)),
        _ => None,
    })
    .await;
    assert_eq!(msg_id, id);
    assert!(seq > 1);
}

#[tokio::test]
async fn only_the_sender_can_delete_a_message() {
    let app = spawn_app().await;
    let Online {
        mut alice,
        mut bob,
        mut a,
        mut b,
    } = online_pair(&app).await;
    let (id, _) = send_text(&mut alice, &mut a, bob.id(), "mine").await;
    let target = securechat_crypto::ids::MsgId::from_b64(&id).expect("id");
    let (_, from, ts, envelope) = next_message(&mut b).await;
    bob.chat.open(from, ts, &envelope).await.expect("open");

    // Bob signs a tombstone for alice's message: the server finds no such message of his.
    let forged = bob
        .chat
        .seal_delete(alice.id(), target)
        .await
        .expect("seal");
    let forged_id = forged.msg_id.to_b64();
    b.send(&ClientFrame::Delete {
        envelope: forged.envelope.clone(),
    })
    .await
    .expect("send");
    let code = wait_for(&mut b, |e| match e {
        ServerEvent::Error {
            code, reference, ..
        } if reference.as_deref() == Some(forged_id.as_str()) => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, WsErrorCode::NotFound);
    // And a client shown that tombstone refuses it: bob did not send the message.
    let mut alice_laptop = alice.new_device().await;
    let page = alice_laptop
        .chat
        .api
        .history(bob.id(), None, 10)
        .await
        .expect("history");
    let original = &page.messages[0];
    alice_laptop
        .chat
        .open(original.from, original.ts, &original.envelope)
        .await
        .expect("open");
    let refused = alice_laptop.chat.open(bob.id(), 0, &forged.envelope).await;
    assert!(
        refused.is_err(),
        "a tombstone by a non-sender must be refused"
    );
    let still = alice
        .chat
        .api
        .history(bob.id(), None, 10)
        .await
        .expect("history");
    assert_eq!(still.messages.len(), 1);
}

#[tokio::test]
async fn a_self_destructing_message_vanishes_for_both_sides() {
    let app = spawn_app().await;
    let Online {
        mut alice,
        mut bob,
        mut a,
        mut b,
    } = online_pair(&app).await;

    let sealed = alice
        .chat
        .seal_text(bob.id(), "5 seconds", false, Some(5_000))
        .await
        .expect("seal");
    let id = sealed.msg_id.to_b64();
    send_acked(&mut a, sealed.envelope, &id).await;
    let (expires_at, envelope, from, ts) = wait_for(&mut b, |e| match e {
        ServerEvent::Message {
            expires_at,
            envelope,
            from,
            ts,
            ..
        } => Some((expires_at, envelope, from, ts)),
        _ => None,
    })
    .await;
    assert_eq!(expires_at, Some(ts + 5_000));
    let opened = bob.chat.open(from, ts, &envelope).await.expect("open");
    assert_eq!(opened.expires_at, Some(ts + 5_000));

    for socket in [&mut a, &mut b] {
        let (msg_id, reason) = wait_for(socket, |e| match e {
            ServerEvent::Deleted { msg_id, reason, .. } => Some((msg_id, reason)),
            _ => None,
        })
        .await;
        assert_eq!(
            (msg_id.as_str(), reason),
            (id.as_str(), DeleteReason::Expired)
        );
    }
    // Removed within a second of expiry, and never served again.
    assert!(securechat_server::clock::now_ms() - (ts + 5_000) < 1_000);
    let page = bob
        .chat
        .api
        .history(alice.id(), None, 10)
        .await
        .expect("history");
    assert!(page.messages.is_empty());
}

#[tokio::test]
async fn read_receipts_and_presence_reach_the_other_side() {
    let app = spawn_app().await;
    let alice = app.peer("alice").await;
    let bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    caught_up(&mut a).await;

    let mut b = bob.socket(0).await;
    caught_up(&mut b).await;
    let online = wait_for(&mut a, |e| match e {
        ServerEvent::Presence { online, .. } if online.contains(&bob.id()) => Some(true),
        _ => None,
    })
    .await;
    assert!(online);
    let listed = alice.chat.api.online_users().await.expect("online");
    assert!(listed.iter().any(|u| u.id == bob.id()));

    b.send(&ClientFrame::Read {
        peer: Some(alice.id()),
        group: None,
        up_to: 1234,
    })
    .await
    .expect("send");
    let (peer, by, up_to) = wait_for(&mut a, |e| match e {
        ServerEvent::Read {
            peer, by, up_to, ..
        } => Some((peer, by, up_to)),
        _ => None,
    })
    .await;
    assert_eq!((peer, by, up_to), (bob.id(), bob.id(), 1234));

    b.close().await;
    let offline = wait_for(&mut a, |e| match e {
        ServerEvent::Presence { offline, .. } if offline.contains(&bob.id()) => Some(true),
        _ => None,
    })
    .await;
    assert!(offline);
}

#[tokio::test]
async fn a_restart_mid_conversation_loses_no_acknowledged_message() {
    let app = spawn_app().await;
    let mut alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;
    let mut a = alice.socket(0).await;
    caught_up(&mut a).await;
    let mut acked = Vec::new();
    for i in 0..40 {
        let (id, _) = send_text(&mut alice, &mut a, bob.id(), &format!("m{i}")).await;
        acked.push(id);
    }
    a.close().await;
    let dir = app.stop().await;
    let app = spawn_in(dir, |_| {}).await;

    bob.log_in_to(&app).await;
    let received = bob.stored_message_ids().await;
    assert_eq!(received, acked);
}

#[tokio::test]
async fn tampered_replayed_reflected_and_forged_envelopes_are_rejected_by_the_receiver() {
    let app = spawn_app().await;
    let mut alice = app.peer("alice").await;
    let mut bob = app.peer("bob").await;
    let mallory = app.peer("mallory").await;
    let mut a = alice.socket(0).await;
    let mut b = bob.socket(0).await;
    caught_up(&mut a).await;
    caught_up(&mut b).await;
    send_text(&mut alice, &mut a, bob.id(), "genuine").await;
    let (_, from, ts, envelope) = next_message(&mut b).await;

    // Tampered ciphertext and tampered signature.
    let mut tampered = envelope.clone();
    let mut ct = securechat_proto::b64::decode(&tampered.ct).expect("ct");
    ct[10] ^= 0x80;
    tampered.ct = securechat_proto::b64::encode(ct);
    assert!(
        bob.chat.open(from, ts, &tampered).await.is_err(),
        "tampered ct"
    );
    let mut bad_sig = envelope.clone();
    let mut sig = securechat_proto::b64::decode(&bad_sig.sig).expect("sig");
    sig[0] ^= 1;
    bad_sig.sig = securechat_proto::b64::encode(sig);
    assert!(
        bob.chat.open(from, ts, &bad_sig).await.is_err(),
        "bad signature"
    );

    // Reflected: the server claims bob's own contact sent it from someone else.
    assert!(
        bob.chat.open(mallory.id(), ts, &envelope).await.is_err(),
        "sender mismatch"
    );

    // The genuine one opens once; a replay of it is refused.
    bob.chat
        .open(from, ts, &envelope)
        .await
        .expect("genuine opens");
    assert!(bob.chat.open(from, ts, &envelope).await.is_err(), "replay");

    // Substituted identity: mallory's envelope claiming to be alice (mallory's own key
    // signs it) fails against alice's pinned key.
    let mut mallory_as_alice = Peer {
        chat: securechat_client::chat::Chat::new(
            securechat_client::Api::new(&app.base).expect("api"),
            securechat_client::KeyRing::from_local_json(&mallory.chat.keys.to_local_json())
                .expect("keys"),
            Default::default(),
        ),
        username: mallory.username.clone(),
        password: mallory.password.clone(),
    };
    mallory_as_alice
        .chat
        .api
        .login(&mallory.username, &mallory.password)
        .await
        .expect("login");
    let forged = mallory_as_alice
        .chat
        .seal_text(bob.id(), "it's me, alice", false, None)
        .await
        .expect("seal");
    assert!(
        bob.chat
            .open(alice.id(), ts, &forged.envelope)
            .await
            .is_err(),
        "forged sender"
    );
}
