//! A SQLite store holding a bit of everything, filled through the store's own traits, and
//! what any store answers about it (to compare a store before and after migration).

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::keys::KeyStatus;
use securechat_store::groups::{GroupChangeRow, GroupMemberRow, NewGroupChange};
use securechat_store::model::{
    AccountSummary, AppendOutcome, Credential, EncryptionKeyRow, EventPage, FileId, FileRow, Gate,
    GroupAppendOutcome, InviteRow, NewGroupMessage, NewInvite, NewMessage, NewReset, NewSession,
    NewUser, SessionRow, StoredMessage, UserListing,
};
use securechat_store::security::{SecurityEvent, SecurityEventRow, SecurityKind};
use securechat_store::Store;
use sha2::{Digest as _, Sha256};

/// The server time of the fixture (Unix ms).
pub const NOW: i64 = 1_750_000_000_000;

/// What the fixture made, by name.
pub struct Fixture {
    /// alice, bob, carol.
    pub users: [UserId; 3],
    /// alice's (one refresh rotated), alice's revoked one, bob's.
    pub sessions: [SessionId; 3],
    /// alice's first refresh token (rotated to `tokens[1]`), and that successor.
    pub tokens: [[u8; 32]; 2],
    /// A file carried by a message, and one no message carries.
    pub files: [FileId; 2],
    /// bob → alice "two" (live), to send again.
    pub resend: NewMessage,
    /// A group of alice's with three changes (bob added, then carol, then bob removed).
    pub group: uuid::Uuid,
}

pub fn key(seed: u8, created_at: i64) -> EncryptionKeyRow {
    EncryptionKeyRow {
        key_id: [seed; 8],
        x25519: [seed; 32],
        created_at,
        binding_sig: [seed; 64],
        status: KeyStatus::Active,
    }
}

pub fn message(from: UserId, to: UserId, id: u8, body: &str, at: i64) -> NewMessage {
    NewMessage {
        sender: from,
        recipient: to,
        msg_id: [id; 16],
        envelope: format!("{{\"body\":\"{body}\"}}"),
        digest: Sha256::digest(format!("{{\"body\":\"{body}\"}}")).into(),
        received_at: at,
        expires_at: None,
        files: Vec::new(),
    }
}

fn session(user: UserId, ip: &str, refresh: [u8; 32], at: i64) -> NewSession {
    NewSession {
        id: SessionId::generate(),
        user_id: user,
        ip: ip.to_owned(),
        created_at: at,
        expires_at: at + 86_400_000,
        refresh_hash: refresh,
        forget_sources_before: 0,
    }
}

/// Fills `store`: accounts with rotated keys, sessions (one refresh rotated, one revoked),
/// login sources, messages both ways (one deleted, one expired, one carrying a file, one
/// self-destructing later), a read receipt and an unreferenced file, invitations, a deleted
/// and a disabled account, and security events.
pub async fn fill(store: &dyn Store) -> Fixture {
    let mut users = Vec::new();
    for (i, name) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let id = UserId::generate();
        let seed = u8::try_from(i + 1).expect("seed");
        store
            .create_user(NewUser {
                id,
                username: name.to_owned(),
                email: format!("{name}@example.org"),
                credential: Credential::Argon2(format!("$argon2id$v=19$hash-of-{name}")),
                identity_key: [seed; 32],
                first_key: key(seed, i64::from(seed)),
                created_at: NOW - 10_000 + i64::from(seed),
                gate: Gate::Open,
            })
            .await
            .expect("create user");
        users.push(id);
    }
    let [alice, bob, carol] = [users[0], users[1], users[2]];
    // Published out of created_at order across users: positions follow created_at, rowid.
    store
        .add_key(alice, key(11, 100))
        .await
        .expect("alice's second key");
    store
        .add_key(bob, key(12, 50))
        .await
        .expect("bob's second key");

    let tokens = [[21u8; 32], [22u8; 32]];
    let mut sessions = Vec::new();
    for (user, ip, refresh) in [
        (alice, "127.0.0.1", tokens[0]),
        (alice, "10.0.0.2", [23; 32]),
        (bob, "::1", [24; 32]),
    ] {
        let new = session(user, ip, refresh, NOW - 5_000);
        sessions.push(new.id);
        store.create_session(new, None).await.expect("session");
    }
    store
        .rotate_refresh(tokens[0], tokens[1], NOW - 4_000, NOW + 86_400_000, 60_000)
        .await
        .expect("rotate");
    store
        .revoke_session(sessions[1], NOW - 3_000)
        .await
        .expect("revoke");

    let files = [[31u8; 16], [32u8; 16]];
    for id in files {
        store
            .create_file(FileRow {
                id,
                uploader: alice,
                recipient: bob,
                size: 300 * 1024,
                created_at: NOW - 2_500,
            })
            .await
            .expect("file");
    }
    let mut with_file = message(alice, bob, 3, "three, with a file", NOW - 2_000);
    with_file.files = vec![files[0]];
    let mut expiring = message(alice, carol, 4, "four, gone soon", NOW - 2_000);
    expiring.expires_at = Some(NOW - 1);
    let mut later = message(bob, alice, 6, "six, gone later", NOW - 2_000);
    later.expires_at = Some(NOW + 3_600_000);
    let resend = message(bob, alice, 2, "two", NOW - 2_000);
    let batch = [
        message(alice, bob, 1, "one", NOW - 2_000),
        resend.clone(),
        with_file,
        expiring,
        message(carol, alice, 5, "five", NOW - 2_000),
        later,
    ];
    let outcomes = store.append_messages(&batch).await.expect("append");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, AppendOutcome::Stored { .. })));
    store
        .delete_message(alice, [1; 16], "{\"tombstone\":1}", NOW - 1_000)
        .await
        .expect("delete")
        .expect("deleted");
    assert_eq!(
        store.expire_messages(NOW, 10).await.expect("expire").len(),
        1
    );
    store
        .record_read(bob, alice, NOW - 500, NOW - 500)
        .await
        .expect("read receipt");

    // An unused invitation, one used by an account deleted since, and a reset code.
    for (tag, note) in [(41u8, "unused"), (42, "for dora")] {
        store
            .create_invite(NewInvite {
                code_hash: [tag; 32],
                note: note.to_owned(),
                created_at: NOW - 400,
                expires_at: NOW + 86_400_000,
            })
            .await
            .expect("invite");
    }
    let dora = UserId::generate();
    store
        .create_user(NewUser {
            id: dora,
            username: "dora".to_owned(),
            email: "dora@example.org".to_owned(),
            // An OPAQUE account: its record must come across byte for byte.
            credential: Credential::Opaque((0..192u8).collect()),
            identity_key: [4; 32],
            first_key: key(4, 4),
            created_at: NOW - 300,
            gate: Gate::Invite([42; 32]),
        })
        .await
        .expect("dora registers by invitation");
    store
        .delete_user(dora, NOW - 200)
        .await
        .expect("delete dora");
    store
        .create_reset(NewReset {
            code_hash: [43; 32],
            user: bob,
            created_at: NOW - 100,
            expires_at: NOW + 3_600_000,
        })
        .await
        .expect("reset code");
    // An operator disabled carol; the server noted a refusal, and an operator lifted it.
    store
        .disable_user(carol, NOW - 50)
        .await
        .expect("disable carol");
    store
        .record_security_events(&[
            SecurityEvent {
                at: NOW - 40,
                kind: SecurityKind::LoginBlockedIp,
                ip: Some("203.0.113.9".to_owned()),
                user: None,
                login: Some("mallory".to_owned()),
                count: 12,
            },
            SecurityEvent {
                at: NOW - 30,
                kind: SecurityKind::UnblockAccount,
                ip: None,
                user: Some(alice),
                login: None,
                count: 1,
            },
        ])
        .await
        .expect("security events");
    // A group chain (the store keeps the bytes and the membership the server verified).
    let group = uuid::Uuid::from_u128(0x0193_650e_2c00_7000_8000_0000_0000_9999);
    let members = |list: &[(UserId, bool)]| -> Vec<GroupMemberRow> {
        list.iter()
            .map(|&(user, admin)| GroupMemberRow { user, admin })
            .collect()
    };
    let chain = [
        members(&[(alice, true), (bob, false)]),
        members(&[(alice, true), (bob, false), (carol, false)]),
        members(&[(alice, true), (carol, false)]),
    ];
    for (seq, members) in chain.into_iter().enumerate() {
        let seq = u64::try_from(seq).expect("seq");
        store
            .append_group_change(&NewGroupChange {
                group_id: group,
                seq,
                change: format!("change {seq}").into_bytes(),
                sig: vec![u8::try_from(seq).expect("tag"); 64],
                stored_at: NOW - 20 + i64::try_from(seq).expect("seq"),
                members,
            })
            .await
            .expect("group change");
    }
    // A message in the group, to its members then (alice and carol).
    let in_group = store
        .append_group_message(&NewGroupMessage {
            message: NewMessage {
                sender: alice,
                recipient: UserId(group),
                msg_id: [0x99; 16],
                envelope: "{\"group\":\"message\"}".to_owned(),
                digest: [0x98; 32],
                received_at: NOW - 10,
                expires_at: None,
                files: Vec::new(),
            },
            group,
            wrapped: vec![alice, carol],
        })
        .await
        .expect("group message");
    assert!(
        matches!(in_group, GroupAppendOutcome::Stored { .. }),
        "{in_group:?}"
    );
    Fixture {
        users: [alice, bob, carol],
        sessions: [sessions[0], sessions[1], sessions[2]],
        tokens,
        files,
        resend,
        group,
    }
}

/// Everything a store answers about the fixture's accounts, streams and files.
/// An account as the backends store it: email, password hash, OPAQUE record, identity
/// key, creation time.
type AccountColumns = (String, String, Option<Vec<u8>>, [u8; 32], i64);

#[derive(Debug, PartialEq)]
pub struct Observed {
    users: Vec<UserListing>,
    accounts: Vec<AccountColumns>,
    keys: Vec<Vec<EncryptionKeyRow>>,
    streams: Vec<(u64, EventPage)>,
    histories: Vec<Vec<StoredMessage>>,
    sessions: Vec<Option<SessionRow>>,
    sources: Vec<bool>,
    files: Vec<Option<FileRow>>,
    invites: Vec<InviteRow>,
    summaries: Vec<AccountSummary>,
    events: Vec<SecurityEventRow>,
    group_changes: Vec<GroupChangeRow>,
    group_members: Vec<GroupMemberRow>,
    groups_of: Vec<Vec<(uuid::Uuid, u64)>>,
    group_histories: Vec<Vec<StoredMessage>>,
}

/// What `store` answers about `fixture` at `NOW`.
pub async fn observe(store: &dyn Store, fixture: &Fixture) -> Observed {
    let mut observed = Observed {
        users: store.list_users().await.expect("users"),
        accounts: Vec::new(),
        keys: Vec::new(),
        streams: Vec::new(),
        histories: Vec::new(),
        sessions: Vec::new(),
        sources: Vec::new(),
        files: Vec::new(),
        invites: store.list_invites().await.expect("invites"),
        summaries: store.account_summaries(NOW).await.expect("summaries"),
        events: store
            .security_events_since(0, 100)
            .await
            .expect("security events"),
        group_changes: store
            .group_changes(fixture.group, 0)
            .await
            .expect("changes"),
        group_members: store.group_members(fixture.group).await.expect("members"),
        groups_of: Vec::new(),
        group_histories: Vec::new(),
    };
    for &user in &fixture.users {
        observed
            .groups_of
            .push(store.groups_of(user).await.expect("groups of"));
        observed.group_histories.push(
            store
                .group_history(user, fixture.group, None, 10, NOW)
                .await
                .expect("group history"),
        );
        let row = store.get_user(user).await.expect("user").expect("exists");
        observed.accounts.push((
            row.email,
            row.credential.hash_column().to_owned(),
            row.credential.record_column().map(<[u8]>::to_vec),
            row.identity_key,
            row.created_at,
        ));
        observed
            .keys
            .push(store.list_keys(user).await.expect("keys"));
        observed.streams.push((
            store.last_seq(user).await.expect("last seq"),
            store
                .events_since(user, 0, 1_000, NOW)
                .await
                .expect("events"),
        ));
        for &peer in &fixture.users {
            observed.histories.push(
                store
                    .history(user, peer, None, 100, NOW)
                    .await
                    .expect("history"),
            );
        }
        for ip in ["127.0.0.1", "10.0.0.2", "::1"] {
            observed
                .sources
                .push(store.is_known_source(user, ip, 0).await.expect("source"));
        }
    }
    for &id in &fixture.sessions {
        observed
            .sessions
            .push(store.get_session(id).await.expect("session"));
    }
    for id in fixture.files {
        observed.files.push(store.get_file(id).await.expect("file"));
    }
    observed
}
