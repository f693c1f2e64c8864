//! Group messages over the real WebSocket, between real clients that verify the membership
//! chain themselves: delivery to every member (and nobody else), removal, stale senders,
//! reads, deletions (by the sender and by an admin), files, names, and envelopes a
//! malicious server or member could try to slip in.

use rand::rngs::OsRng;

use securechat_client::chat::Received;
use securechat_client::groups::GroupAction;
use securechat_client::{ClientError, Socket};
use securechat_crypto::envelope::{seal, Content, OutgoingMessage, Sender};
use securechat_crypto::ids::{ConvId, MsgId};
use securechat_crypto::CryptoError;
use securechat_proto::envelope::Envelope;
use securechat_proto::ids::UserId;
use securechat_proto::ws::{ClientFrame, DeleteReason, ServerEvent, WsErrorCode};
use uuid::Uuid;

use crate::helpers::{now_ms, spawn_app, wait_for, wait_for_within, Peer, TestApp};

/// A member online: the client and its caught-up socket.
struct Member {
    peer: Peer,
    socket: Socket,
}

async fn online(app: &TestApp, name: &str) -> Member {
    let peer = app.peer(name).await;
    let mut socket = peer.socket(0).await;
    wait_for(&mut socket, |e| {
        matches!(e, ServerEvent::CaughtUp { .. }).then_some(())
    })
    .await;
    Member { peer, socket }
}

/// Sends a frame and waits for its ack (`Ok(seq)`) or its error (`Err(code)`).
async fn send(socket: &mut Socket, envelope: Envelope, msg_id: &str) -> Result<u64, WsErrorCode> {
    socket
        .send(&ClientFrame::Send { envelope })
        .await
        .expect("send");
    wait_for(socket, |e| match e {
        ServerEvent::Ack {
            msg_id: id, seq, ..
        } if id == msg_id => Some(Ok(seq)),
        ServerEvent::Error {
            code, reference, ..
        } if reference.as_deref() == Some(msg_id) => Some(Err(code)),
        _ => None,
    })
    .await
}

/// Seals and sends a text to the group; the message id.
async fn say(m: &mut Member, group: Uuid, body: &str) -> String {
    let sealed = m
        .peer
        .chat
        .seal_group_text(group, body, false, None)
        .await
        .expect("seal");
    let id = sealed.msg_id.to_b64();
    send(&mut m.socket, sealed.envelope, &id)
        .await
        .expect("acked");
    id
}

/// Waits for the next group message and opens it: (group, sender, content).
async fn receive(m: &mut Member) -> (Option<Uuid>, UserId, Received) {
    let (group, from, ts, envelope) = wait_for(&mut m.socket, |e| match e {
        ServerEvent::Message {
            group,
            from,
            ts,
            envelope,
            ..
        } => Some((group, from, ts, envelope)),
        _ => None,
    })
    .await;
    let opened = m
        .peer
        .chat
        .open_in(group, from, ts, &envelope)
        .await
        .expect("open");
    (group, from, opened.content)
}

fn text(received: &Received) -> &str {
    match received {
        Received::Text { body } => body,
        _ => panic!("not a text"),
    }
}

/// Nothing but presence and receipts arrives within a short while.
async fn no_message(socket: &mut Socket) {
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(600), async {
        loop {
            match socket.next().await {
                Some(Ok(ServerEvent::Message { .. } | ServerEvent::Deleted { .. })) => break,
                Some(Ok(_)) => {}
                _ => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "a message arrived");
}

#[tokio::test]
async fn group_messages_reach_every_member_and_nobody_else() {
    let app = spawn_app().await;
    let mut alice = online(&app, "alice").await;
    let mut bob = online(&app, "bob").await;
    let mut carol = online(&app, "carol").await;
    let mut dave = online(&app, "dave").await;
    let group = alice
        .peer
        .chat
        .create_group(&[bob.peer.id(), carol.peer.id()])
        .await
        .expect("create");

    let meta = alice
        .peer
        .chat
        .seal_group_meta(group, "Family", "#2f6fde")
        .await
        .expect("seal meta");
    let id = meta.msg_id.to_b64();
    send(&mut alice.socket, meta.envelope, &id)
        .await
        .expect("meta acked");
    for m in [&mut bob, &mut carol] {
        let (g, from, content) = receive(m).await;
        assert_eq!((g, from), (Some(group), alice.peer.id()));
        assert!(matches!(content, Received::GroupMeta { ref name, .. } if name == "Family"));
        assert_eq!(
            m.peer.chat.group_name(group).map(|(n, _)| n.as_str()),
            Some("Family")
        );
    }

    say(&mut bob, group, "hello everyone").await;
    for m in [&mut alice, &mut carol] {
        let (g, from, content) = receive(m).await;
        assert_eq!((g, from), (Some(group), bob.peer.id()));
        assert_eq!(text(&content), "hello everyone");
    }
    no_message(&mut dave.socket).await;

    // History: what each member received, newest first.
    let page = carol
        .peer
        .chat
        .api
        .group_history(group, None, 10)
        .await
        .expect("history");
    assert_eq!(page.messages.len(), 2);
    let latest = &page.messages[0];
    let opened = carol
        .peer
        .chat
        .open_history_in(Some(group), latest.from, latest.ts, &latest.envelope)
        .await
        .expect("open history");
    assert_eq!(text(&opened.content), "hello everyone");
    let outsider = dave.peer.chat.api.group_history(group, None, 10).await;
    assert!(
        matches!(outsider, Err(ClientError::Http { status: 404, .. })),
        "{outsider:?}"
    );

    // Dave is not a member: the server refuses his message, whatever its wraps say.
    let sealed = seal_for_anyone(&mut dave.peer, group, &[alice.peer.id()]).await;
    let id = sealed.1;
    assert_eq!(
        send(&mut dave.socket, sealed.0, &id).await,
        Err(WsErrorCode::NotAMember)
    );
}

/// Seals a text in `group` for `users` (and the sender), bypassing the group rules, as a
/// malicious member could.
async fn seal_for_anyone(from: &mut Peer, group: Uuid, users: &[UserId]) -> (Envelope, String) {
    let mut recipients = Vec::new();
    for user in users {
        recipients.extend(from.chat.contact_keys(*user).await.expect("keys"));
    }
    let own = from.chat.keys.active_public();
    let now = now_ms();
    let sealed = seal(
        &mut OsRng,
        &Sender {
            user_id: from.id(),
            identity: from.chat.keys.identity(),
            own_keys: &own,
        },
        &OutgoingMessage {
            msg_id: Some(MsgId::time_ordered(now, &mut OsRng)),
            conv_id: ConvId(group),
            sender_ctr: 1,
            sent_at_ms: now,
            expires_in_ms: None,
            hidden: false,
            content: &Content::Text {
                body: "psst".to_owned(),
            },
            recipients: &recipients,
        },
    )
    .expect("seal");
    let id = sealed.msg_id.to_b64();
    (sealed.envelope, id)
}

#[tokio::test]
async fn a_removed_member_gets_nothing_new_and_a_stale_sender_is_told() {
    let app = spawn_app().await;
    let mut alice = online(&app, "alice").await;
    let mut bob = online(&app, "bob").await;
    let mut carol = online(&app, "carol").await;
    let group = alice
        .peer
        .chat
        .create_group(&[bob.peer.id(), carol.peer.id()])
        .await
        .expect("create");
    say(&mut alice, group, "before").await;
    // Bob seals while Carol is still a member; Alice removes her before he sends.
    let stale = bob
        .peer
        .chat
        .seal_group_text(group, "for the three of us", false, None)
        .await
        .expect("seal");
    let state = alice
        .peer
        .chat
        .change_group(group, GroupAction::Remove, &[carol.peer.id()])
        .await
        .expect("remove carol");
    assert!(!state.is_member(&carol.peer.id()));
    // History from before the removal still opens for the members (it was wrapped for Carol,
    // a member then), and for Carol herself.
    let carol_id = carol.peer.id();
    for m in [&mut bob, &mut carol] {
        let now = m.peer.chat.sync_group(group).await.expect("sync");
        assert!(!now.is_member(&carol_id), "the removal is verified first");
        let page = m
            .peer
            .chat
            .api
            .group_history(group, None, 10)
            .await
            .expect("history");
        let old = page.messages.last().expect("the message from before");
        let opened = m
            .peer
            .chat
            .open_history_in(Some(group), old.from, old.ts, &old.envelope)
            .await
            .expect("a message from before the removal opens");
        assert_eq!(text(&opened.content), "before");
    }
    // Bob and Carol heard of the group's creation, and now of the removal, at once
    // (protocol 3), before any message.
    for m in [&mut bob, &mut carol] {
        for expected in [0, 1] {
            let (g, seq) = wait_for(&mut m.socket, |e| match e {
                ServerEvent::Group { group_id, seq } => Some((group_id, seq)),
                _ => None,
            })
            .await;
            assert_eq!((g, seq), (group, expected));
        }
    }
    let id = stale.msg_id.to_b64();
    assert_eq!(
        send(&mut bob.socket, stale.envelope, &id).await,
        Err(WsErrorCode::GroupChanged),
        "wrapped for a member who is gone"
    );
    // Sealed again on the verified chain, it goes to Alice only.
    say(&mut bob, group, "just us").await;
    let (_, _, content) = receive(&mut alice).await;
    assert_eq!(text(&content), "just us");
    no_message(&mut carol.socket).await;
    // Carol can no longer post.
    let sealed = seal_for_anyone(&mut carol.peer, group, &[alice.peer.id(), bob.peer.id()]).await;
    assert_eq!(
        send(&mut carol.socket, sealed.0, &sealed.1).await,
        Err(WsErrorCode::NotAMember)
    );
    // Bob, not an admin, cannot change the membership: his own client refuses it.
    let refused = bob
        .peer
        .chat
        .change_group(group, GroupAction::Add, &[carol.peer.id()])
        .await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Crypto(CryptoError::GroupChange { .. }))
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_message_wrapped_for_an_outsider_is_refused_by_the_server_and_by_every_member() {
    let app = spawn_app().await;
    let mut alice = online(&app, "alice").await;
    let mut bob = online(&app, "bob").await;
    let mallory = online(&app, "mallory").await;
    let group = alice
        .peer
        .chat
        .create_group(&[bob.peer.id()])
        .await
        .expect("create");
    bob.peer.chat.sync_group(group).await.expect("bob verifies");
    // Alice's client (turned malicious) wraps for Mallory too: the server refuses it...
    let (envelope, id) =
        seal_for_anyone(&mut alice.peer, group, &[bob.peer.id(), mallory.peer.id()]).await;
    assert_eq!(
        send(&mut alice.socket, envelope.clone(), &id).await,
        Err(WsErrorCode::GroupChanged)
    );
    // ...and were a server to deliver it anyway, Bob refuses to open it.
    let opened = bob
        .peer
        .chat
        .open_in(Some(group), alice.peer.id(), now_ms(), &envelope)
        .await;
    assert!(
        matches!(
            opened,
            Err(ClientError::Crypto(CryptoError::GroupOutsider { user })) if user == mallory.peer.id()
        ),
        "{:?}",
        opened.err()
    );
    // A message from someone outside the verified membership is refused too.
    let (envelope, _) = seal_for_anyone(
        &mut mallory.peer.new_device().await,
        group,
        &[bob.peer.id()],
    )
    .await;
    let opened = bob
        .peer
        .chat
        .open_in(Some(group), mallory.peer.id(), now_ms(), &envelope)
        .await;
    assert!(
        matches!(
            opened,
            Err(ClientError::Crypto(
                CryptoError::GroupSenderNotMember { .. }
            ))
        ),
        "{:?}",
        opened.err()
    );
}

#[tokio::test]
async fn reads_deletions_and_files_work_per_member() {
    let app = spawn_app().await;
    let mut alice = online(&app, "alice").await;
    let mut bob = online(&app, "bob").await;
    let mut carol = online(&app, "carol").await;
    let dave = online(&app, "dave").await;
    let group = alice
        .peer
        .chat
        .create_group(&[bob.peer.id(), carol.peer.id()])
        .await
        .expect("create");
    let mine = say(&mut alice, group, "from alice").await;
    let ts = wait_for(&mut bob.socket, |e| match e {
        ServerEvent::Message { ts, .. } => Some(ts),
        _ => None,
    })
    .await;
    receive(&mut carol).await;

    // Bob read the group up to it: Alice and Carol are told, with the group.
    bob.socket
        .send(&ClientFrame::Read {
            peer: None,
            group: Some(group),
            up_to: ts,
        })
        .await
        .expect("read");
    for m in [&mut alice, &mut carol] {
        let (by, g, up_to) = wait_for(&mut m.socket, |e| match e {
            ServerEvent::Read {
                by,
                group,
                up_to,
                seq: Some(_),
                ..
            } => Some((by, group, up_to)),
            _ => None,
        })
        .await;
        assert_eq!((by, g, up_to), (bob.peer.id(), Some(group), ts));
    }

    // A group file: readable by the members who received it, by nobody else.
    let sealed = bob
        .peer
        .chat
        .seal_group_file(group, b"group photo", "photo.txt", "text/plain", "")
        .await
        .expect("seal file");
    let id = sealed.msg_id.to_b64();
    send(&mut bob.socket, sealed.envelope, &id)
        .await
        .expect("acked");
    let (_, _, content) = receive(&mut carol).await;
    let Received::File { file, .. } = content else {
        panic!("not a file")
    };
    assert_eq!(
        carol.peer.chat.fetch_file(&file).await.expect("download"),
        b"group photo"
    );
    let stolen = dave.peer.chat.fetch_file(&file).await;
    assert!(
        matches!(stolen, Err(ClientError::Http { status: 404, .. })),
        "{stolen:?}"
    );
    receive(&mut alice).await;

    // Bob (no admin) cannot delete Alice's message; Alice deletes her own; as an admin she
    // deletes Bob's too. Every member sees each deletion verified.
    let target = MsgId::from_b64(&mine).expect("id");
    let tombstone = bob
        .peer
        .chat
        .seal_group_delete(group, target)
        .await
        .expect("seal");
    bob.socket
        .send(&ClientFrame::Delete {
            envelope: tombstone.envelope,
        })
        .await
        .expect("delete");
    let refused = wait_for(&mut bob.socket, |e| match e {
        ServerEvent::Error { code, .. } => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(refused, WsErrorCode::NotFound, "not hers to delete");
    for (target, sender) in [(mine.clone(), alice.peer.id()), (id.clone(), bob.peer.id())] {
        let msg = MsgId::from_b64(&target).expect("id");
        let tombstone = alice
            .peer
            .chat
            .seal_group_delete(group, msg)
            .await
            .expect("seal");
        alice
            .socket
            .send(&ClientFrame::Delete {
                envelope: tombstone.envelope,
            })
            .await
            .expect("delete");
        let (g, from, envelope) = wait_for_within(
            &mut carol.socket,
            std::time::Duration::from_secs(5),
            |e| match e {
                ServerEvent::Deleted {
                    msg_id,
                    group,
                    from,
                    reason: DeleteReason::Deleted,
                    envelope: Some(envelope),
                    ..
                } if msg_id == target => Some((group, from, envelope)),
                _ => None,
            },
        )
        .await;
        assert_eq!((g, from), (Some(group), sender));
        carol
            .peer
            .chat
            .verify_deletion_in(g, from, &msg, &envelope)
            .await
            .expect("the deletion verifies (the sender's own, or an admin's)");
    }
    let gone = carol.peer.chat.fetch_file(&file).await;
    assert!(
        matches!(gone, Err(ClientError::Http { status: 404, .. })),
        "{gone:?}"
    );
}

#[tokio::test]
async fn two_admins_changing_the_group_at_once_both_land() {
    let app = spawn_app().await;
    let mut alice = online(&app, "alice").await;
    let mut bob = online(&app, "bob").await;
    let (carol, dave, erin) = (
        app.peer("carol").await,
        app.peer("dave").await,
        app.peer("erin").await,
    );
    let group = alice
        .peer
        .chat
        .create_group(&[bob.peer.id()])
        .await
        .expect("create");
    alice
        .peer
        .chat
        .change_group(group, GroupAction::Admin, &[bob.peer.id()])
        .await
        .expect("bob becomes an admin");
    // Both verify the same head, then both change it at once: the one stored second was made
    // on a stale head, is refused with group_conflict, verified again and made again.
    alice.peer.chat.sync_group(group).await.expect("sync");
    bob.peer.chat.sync_group(group).await.expect("sync");
    let (hers, his) = ([carol.id()], [dave.id(), erin.id()]);
    let (a, b) = tokio::join!(
        alice.peer.chat.change_group(group, GroupAction::Add, &hers),
        bob.peer.chat.change_group(group, GroupAction::Add, &his),
    );
    a.expect("alice's change lands");
    b.expect("bob's change lands");
    let state = alice.peer.chat.sync_group(group).await.expect("sync");
    assert_eq!(state.seq(), 3, "create, admin, and both additions");
    for user in [carol.id(), dave.id(), erin.id()] {
        assert!(state.is_member(&user));
    }
    // And a message now goes to all five.
    say(&mut bob, group, "welcome").await;
    let (_, _, content) = receive(&mut alice).await;
    assert_eq!(text(&content), "welcome");
}

#[tokio::test]
async fn a_deletion_by_a_new_admin_verifies_on_a_member_whose_chain_is_stale() {
    let app = spawn_app().await;
    let mut alice = online(&app, "alice").await;
    let mut bob = online(&app, "bob").await;
    let mut carol = online(&app, "carol").await;
    let group = alice
        .peer
        .chat
        .create_group(&[bob.peer.id(), carol.peer.id()])
        .await
        .expect("create");
    let target = say(&mut alice, group, "to be deleted").await;
    receive(&mut carol).await;
    receive(&mut bob).await;
    // Bob becomes an admin; Carol's client has not fetched that change.
    alice
        .peer
        .chat
        .change_group(group, GroupAction::Admin, &[bob.peer.id()])
        .await
        .expect("bob becomes an admin");
    let msg = MsgId::from_b64(&target).expect("id");
    let tombstone = bob
        .peer
        .chat
        .seal_group_delete(group, msg)
        .await
        .expect("seal");
    bob.socket
        .send(&ClientFrame::Delete {
            envelope: tombstone.envelope,
        })
        .await
        .expect("delete");
    let (from, envelope) = wait_for(&mut carol.socket, |e| match e {
        ServerEvent::Deleted {
            from,
            envelope: Some(envelope),
            ..
        } => Some((from, envelope)),
        _ => None,
    })
    .await;
    assert_eq!(from, alice.peer.id());
    carol
        .peer
        .chat
        .verify_deletion_in(Some(group), from, &msg, &envelope)
        .await
        .expect("verified after fetching the change that made bob an admin");
}
