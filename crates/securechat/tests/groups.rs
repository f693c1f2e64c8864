//! Groups from the command line (`group create|add|remove|leave|list|show`, `send --group`,
//! `history --group`, `listen`), and what a malicious server can try against them: a member
//! it pretends to have added, and membership changes nobody allowed to make them signed.

mod support;

use serde_json::Value;
use sqlx::SqlitePool;

use securechat_crypto::group::{Change, ChangeMember, Op};
use securechat_crypto::identity::IdentityKeyPair;
use securechat_crypto::ids::ConvId;
use securechat_proto::ids::UserId;
use support::*;
use uuid::Uuid;

fn messages(events: &[Value]) -> Vec<&Value> {
    of_type(events, "message")
}

fn user_id(server: &Server, db: &SqlitePool, name: &str) -> Uuid {
    server
        .block_on(
            sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                .bind(name)
                .fetch_one(db),
        )
        .expect("user id")
}

#[test]
fn a_group_from_the_command_line() {
    let server = start_sqlite_server();
    let [alice, bob, carol, dave] =
        ["alice", "bob", "carol", "dave"].map(|name| User::new(&server, name));
    for user in [&alice, &bob, &carol, &dave] {
        user.register();
    }
    let group = alice
        .ok(&["group", "create", "--name", "Family", "bob", "carol"], "")
        .trim()
        .to_owned();
    assert!(group.parse::<Uuid>().is_ok(), "{group}");

    let list = bob.ok(&["group", "list"], "");
    assert!(list.contains(&group) && list.contains("3"), "{list}");
    // Bob learns the name from the group's first message.
    let events = bob.listen_once();
    let named = of_type(&events, "group_named");
    assert_eq!(named.len(), 1, "{events:?}");
    assert_eq!(named[0]["name"], "Family");
    let show = bob.ok(&["group", "show", "Family"], "");
    for word in ["alice", "bob", "carol", "admin", "member"] {
        assert!(show.contains(word), "{word} in {show}");
    }

    bob.ok(&["send", "--group", "Family", "hello", "family"], "");
    for member in [&alice, &carol] {
        let events = member.listen_once();
        let got = messages(&events);
        assert_eq!(got.len(), 1, "{events:?}");
        assert_eq!(got[0]["text"], "hello family");
        assert_eq!(got[0]["group"]["id"], group.as_str());
        assert_eq!(got[0]["from_username"], "bob");
    }
    let line = carol.ok(&["history", "--group", &group], "");
    assert!(line.contains("[Family] bob: hello family"), "{line}");
    assert!(messages(&dave.listen_once()).is_empty());

    // Carol is removed: she gets nothing new, and can no longer post.
    let out = alice.ok(&["group", "remove", "Family", "carol"], "");
    assert!(out.contains("2 members"), "{out}");
    bob.ok(&["send", "--group", &group, "after carol"], "");
    assert!(messages(&carol.listen_once()).is_empty());
    let got = alice.listen_once();
    assert_eq!(messages(&got).len(), 1, "{got:?}");
    let err = carol.fails(&["send", "--group", &group, "let me in"], "");
    assert!(err.contains("not a member"), "{err}");
    let err = dave.fails(&["send", "--group", &group, "hi"], "");
    assert!(err.contains("not a member"), "{err}");
    // Only admins change the membership: Bob's own client refuses before asking the server.
    let err = bob.fails(&["group", "add", &group, "dave"], "");
    assert!(err.contains("only an admin"), "{err}");
    alice.ok(&["group", "admin", &group, "bob"], "");
    bob.ok(&["group", "add", &group, "dave"], "");
    assert!(dave.ok(&["group", "list"], "").contains(&group));
    // Bob knew the name, and sent it again for Dave, who joined after it was first sent.
    let events = dave.listen_once();
    assert_eq!(
        of_type(&events, "group_named")[0]["name"],
        "Family",
        "{events:?}"
    );
    bob.ok(&["group", "leave", &group], "");
    let show = alice.ok(&["group", "show", &group], "");
    assert!(!show.contains("bob") && show.contains("dave"), "{show}");
}

#[test]
fn a_member_the_server_pretends_to_have_added_gets_nothing() {
    let server = start_sqlite_server();
    let [alice, bob, mallory] = ["alice", "bob", "mallory"].map(|name| User::new(&server, name));
    for user in [&alice, &bob, &mallory] {
        user.register();
    }
    let group = alice.ok(&["group", "create", "bob"], "").trim().to_owned();
    let group_id: Uuid = group.parse().expect("group id");
    alice.ok(&["send", "--group", &group, "before"], "");
    assert_eq!(messages(&bob.listen_once()).len(), 1);

    // The operator, turned attacker, adds Mallory to the membership the server routes by,
    // without any change signed by an admin.
    let db = server.database();
    let mallory_id = user_id(&server, &db, "mallory");
    server
        .block_on(
            sqlx::query("INSERT INTO group_members (group_id, user_id, admin) VALUES ($1, $2, 0)")
                .bind(group_id)
                .bind(mallory_id)
                .execute(&db),
        )
        .expect("forge a member");
    // Alice's client wraps only for the members it verified: the server refuses the message
    // rather than deliver it to Mallory without a key, and Alice is told.
    let err = alice.fails(&["send", "--group", &group, "secret"], "");
    assert!(err.contains("membership"), "{err}");
    let got = mallory.listen_once();
    assert!(messages(&got).is_empty(), "{got:?}");
    // Mallory's own client verifies the chain the server now shows her, finds she is not in
    // it, and will not seal to the group either (what a member outside the chain sends
    // anyway is refused by every member: the API tests show it).
    let err = mallory.fails(&["send", "--group", &group, "trust me"], "");
    assert!(err.contains("not a member"), "{err}");
    assert!(messages(&bob.listen_once()).is_empty());
}

#[test]
fn membership_changes_nobody_allowed_signed_are_refused() {
    let server = start_sqlite_server();
    let [alice, bob, mallory] = ["alice", "bob", "mallory"].map(|name| User::new(&server, name));
    for user in [&alice, &bob, &mallory] {
        user.register();
    }
    let group = alice.ok(&["group", "create", "bob"], "").trim().to_owned();
    let group_id: Uuid = group.parse().expect("group id");
    bob.ok(&["group", "show", &group], "");
    let db = server.database();
    let alice_id = UserId(user_id(&server, &db, "alice"));
    let mallory_id = UserId(user_id(&server, &db, "mallory"));
    let (head, prev_bytes): (Vec<u8>, Vec<u8>) = server
        .block_on(
            sqlx::query_as("SELECT change, sig FROM group_changes WHERE group_id = $1 AND seq = 0")
                .bind(group_id)
                .fetch_one(&db),
        )
        .expect("first change");
    let first = securechat_crypto::group::SignedChange {
        bytes: head,
        sig: prev_bytes.try_into().expect("64 bytes"),
    };
    // A change adding Mallory in Alice's name, signed by a key the server made up; and the
    // same change with no valid signature at all.
    let forger = IdentityKeyPair::generate(&mut rand::rngs::OsRng);
    let change = Change {
        group_id: ConvId(group_id),
        seq: 1,
        prev: Some(first.link()),
        author: alice_id,
        author_ik: forger.public(),
        at_ms: 1,
        op: Op::Add,
        members: vec![ChangeMember {
            user_id: mallory_id,
            ik: forger.public(),
            admin: false,
        }],
    };
    let foreign = change.sign(&forger).expect("sign");
    let unsigned = securechat_crypto::group::SignedChange {
        bytes: foreign.bytes.clone(),
        sig: [0; 64],
    };
    for (forged, what) in [(foreign, "foreign-signed"), (unsigned, "unsigned")] {
        server
            .block_on(async {
                sqlx::query(
                    "INSERT INTO group_changes (group_id, seq, change, sig, stored_at) \
                     VALUES ($1, 1, $2, $3, 0)",
                )
                .bind(group_id)
                .bind(&forged.bytes)
                .bind(&forged.sig[..])
                .execute(&db)
                .await?;
                sqlx::query("UPDATE groups SET head_seq = 1 WHERE id = $1")
                    .bind(group_id)
                    .execute(&db)
                    .await
            })
            .expect("forge a change");
        for member in [&alice, &bob] {
            let err = member.fails(&["group", "show", &group], "");
            assert!(
                err.contains("group change 1 refused") || err.contains("signature"),
                "{what}: {err}"
            );
            let err = member.fails(&["send", "--group", &group, "hi"], "");
            assert!(
                err.contains("group change 1 refused") || err.contains("signature"),
                "{what}: {err}"
            );
        }
        server
            .block_on(async {
                sqlx::query("DELETE FROM group_changes WHERE group_id = $1 AND seq = 1")
                    .bind(group_id)
                    .execute(&db)
                    .await?;
                sqlx::query("UPDATE groups SET head_seq = 0 WHERE id = $1")
                    .bind(group_id)
                    .execute(&db)
                    .await
            })
            .expect("undo");
    }
    // Put back, the genuine chain works again.
    alice.ok(&["send", "--group", &group, "still us"], "");
    assert_eq!(messages(&bob.listen_once()).len(), 1);
}
