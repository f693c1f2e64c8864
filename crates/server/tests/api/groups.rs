//! Groups over REST: the server stores a group's membership chain only as its members signed
//! it (a change signed by anyone else, or naming an account with another key, is refused and
//! nothing is stored), lets exactly one of two changes made on the same head in, and shows a
//! chain only to the people it names.

use reqwest::StatusCode;
use securechat_crypto::group::{Change, ChangeMember, GroupState, Op, SignedChange};
use securechat_crypto::ids::ConvId;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{now_ms, spawn_app, TestApp, TestUser};

/// A group id as clients make them: a random (version 4) UUID.
fn random_group() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

fn member(user: &TestUser, admin: bool) -> ChangeMember {
    ChangeMember {
        user_id: user.id,
        ik: user.identity.public(),
        admin,
    }
}

fn make(
    group: Uuid,
    author: &TestUser,
    state: Option<&GroupState>,
    op: Op,
    members: Vec<ChangeMember>,
) -> SignedChange {
    Change {
        group_id: ConvId(group),
        seq: state.map_or(0, |s| s.seq() + 1),
        prev: state.map(GroupState::head),
        author: author.id,
        author_ik: author.identity.public(),
        at_ms: now_ms(),
        op,
        members,
    }
    .sign(&author.identity)
    .expect("sign")
}

async fn post(
    app: &TestApp,
    token: &str,
    group: Uuid,
    signed: &SignedChange,
) -> (StatusCode, Value) {
    let body: Value = serde_json::from_str(&signed.to_json()).expect("json");
    let response = app
        .post_authed(&format!("/api/v1/groups/{group}/changes"), token, &body)
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn chain(app: &TestApp, token: &str, group: Uuid) -> (StatusCode, Value) {
    let response = app
        .get_authed(&format!("/api/v1/groups/{group}/changes"), token)
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn refused(answer: &(StatusCode, Value), status: StatusCode, code: &str, words: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], code, "{}", answer.1);
    let message = answer.1["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{message}");
}

#[tokio::test]
async fn a_group_chain_is_stored_only_as_its_members_signed_it() {
    let app = spawn_app().await;
    let [alice, bob, carol, mallory] = ["alice", "bob", "carol", "mallory"].map(TestUser::generate);
    let mut tokens = Vec::new();
    for user in [&alice, &bob, &carol, &mallory] {
        app.register_ok(user).await;
        tokens.push(app.login_ok(user).await.access_token);
    }
    let [ta, tb, tc, tm] = [&tokens[0], &tokens[1], &tokens[2], &tokens[3]];
    let group = random_group();

    // A group id must be random: a 1:1 conversation's derived id (version 8) is refused.
    let direct = ConvId::direct(&alice.id, &bob.id).0;
    let squatted = make(
        direct,
        &alice,
        None,
        Op::Create,
        vec![member(&alice, true), member(&bob, false)],
    );
    let answer = post(&app, ta, direct, &squatted).await;
    assert_eq!(
        (answer.0, answer.1["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("id")),
        "{}",
        answer.1
    );

    // Alice creates it with Bob; Carol and Mallory cannot see it.
    let create = make(
        group,
        &alice,
        None,
        Op::Create,
        vec![member(&alice, true), member(&bob, false)],
    );
    let stored = post(&app, ta, group, &create).await;
    assert_eq!(
        (stored.0, &stored.1["seq"]),
        (StatusCode::CREATED, &json!(0)),
        "{}",
        stored.1
    );
    let s0 = GroupState::genesis(&create).expect("create");
    refused(
        &chain(&app, tc, group).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "not found",
    );

    // What a server (or Mallory) might try: refused, nothing stored.
    let forged = make(
        group,
        &mallory,
        Some(&s0),
        Op::Add,
        vec![member(&mallory, false)],
    );
    refused(
        &post(&app, tm, group, &forged).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_group_change",
        "the author is not a member",
    );
    let by_bob = make(
        group,
        &bob,
        Some(&s0),
        Op::Add,
        vec![member(&mallory, false)],
    );
    refused(
        &post(&app, tb, group, &by_bob).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_group_change",
        "only an admin may change the membership",
    );
    refused(
        &post(
            &app,
            tb,
            group,
            &make(
                group,
                &alice,
                Some(&s0),
                Op::Add,
                vec![member(&carol, false)],
            ),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_group_change",
        "the change's author is not you",
    );
    let mut unsigned = make(
        group,
        &alice,
        Some(&s0),
        Op::Add,
        vec![member(&mallory, false)],
    );
    unsigned.sig = [0; 64];
    refused(
        &post(&app, ta, group, &unsigned).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_group_change",
        "signature does not verify",
    );
    // Carol named with Mallory's key.
    let mut disguised = member(&carol, false);
    disguised.ik = mallory.identity.public();
    refused(
        &post(
            &app,
            ta,
            group,
            &make(group, &alice, Some(&s0), Op::Add, vec![disguised]),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_group_change",
        "registered with another identity key",
    );
    let (_, listed) = chain(&app, tb, group).await;
    assert_eq!(
        listed["changes"].as_array().map(Vec::len),
        Some(1),
        "nothing was stored: {listed}"
    );

    // Alice adds Carol; Carol now lists the group and reads the chain, and verifies it.
    let add = make(
        group,
        &alice,
        Some(&s0),
        Op::Add,
        vec![member(&carol, false)],
    );
    assert_eq!(post(&app, ta, group, &add).await.0, StatusCode::CREATED);
    let (status, listed) = chain(&app, tc, group).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let changes: Vec<SignedChange> = listed["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| SignedChange::from_json(&c.to_string()).expect("transport form"))
        .collect();
    let verified = GroupState::verify(&changes).expect("carol verifies the chain");
    assert!(verified.is_member(&carol.id) && verified.members().len() == 3);
    let mine: Value = app
        .get_authed("/api/v1/groups", tc)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine, json!([{"group_id": group.to_string(), "seq": 1}]));

    // Removed, Carol still reads the chain (she sees why) but no longer lists the group.
    let s1 = s0.apply(&add).expect("add");
    let remove = make(
        group,
        &alice,
        Some(&s1),
        Op::Remove,
        vec![member(&carol, false)],
    );
    assert_eq!(post(&app, ta, group, &remove).await.0, StatusCode::CREATED);
    assert_eq!(chain(&app, tc, group).await.0, StatusCode::OK);
    let mine: Value = app
        .get_authed("/api/v1/groups", tc)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine, json!([]));

    // Bob deletes his account; Alice can still remove him (his key was checked when he came
    // in), but nobody can add a deleted account.
    let gone = reqwest::Client::new()
        .delete(app.url("/api/v1/me"))
        .bearer_auth(tb)
        .json(&json!({"password": bob.password}))
        .send()
        .await
        .expect("delete");
    assert!(gone.status().is_success(), "{:?}", gone.text().await);
    let s2 = s1.apply(&remove).expect("remove");
    let drop_bob = make(
        group,
        &alice,
        Some(&s2),
        Op::Remove,
        vec![member(&bob, false)],
    );
    let answer = post(&app, ta, group, &drop_bob).await;
    assert_eq!(answer.0, StatusCode::CREATED, "{}", answer.1);
    let s3 = s2.apply(&drop_bob).expect("remove bob");
    // Carol, out since seq 2, sees the chain up to her removal and nothing made after it.
    let (status, listed) = chain(&app, tc, group).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed["changes"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    assert_eq!(
        chain(&app, ta, group).await.1["changes"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let add_bob = make(group, &alice, Some(&s3), Op::Add, vec![member(&bob, false)]);
    refused(
        &post(&app, ta, group, &add_bob).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_group_change",
        "is not a registered account",
    );
}

#[tokio::test]
async fn two_admins_at_once_one_change_is_stored_and_the_other_is_told() {
    let app = spawn_app().await;
    let [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map(TestUser::generate);
    let mut tokens = Vec::new();
    for user in [&alice, &bob, &carol, &dave] {
        app.register_ok(user).await;
        tokens.push(app.login_ok(user).await.access_token);
    }
    let group = random_group();
    let create = make(
        group,
        &alice,
        None,
        Op::Create,
        vec![member(&alice, true), member(&bob, true)],
    );
    assert_eq!(
        post(&app, &tokens[0], group, &create).await.0,
        StatusCode::CREATED
    );
    refused(
        &post(&app, &tokens[0], group, &create).await,
        StatusCode::CONFLICT,
        "group_conflict",
        "stored first",
    );
    let s0 = GroupState::genesis(&create).expect("create");

    let by_alice = make(
        group,
        &alice,
        Some(&s0),
        Op::Add,
        vec![member(&carol, false)],
    );
    let by_bob = make(group, &bob, Some(&s0), Op::Add, vec![member(&dave, false)]);
    let (a, b) = tokio::join!(
        post(&app, &tokens[0], group, &by_alice),
        post(&app, &tokens[1], group, &by_bob)
    );
    let statuses = [a.0, b.0];
    assert!(statuses.contains(&StatusCode::CREATED), "{a:?} {b:?}");
    assert!(statuses.contains(&StatusCode::CONFLICT), "{a:?} {b:?}");
    let answer = if a.0 == StatusCode::CONFLICT { a } else { b };
    refused(
        &answer,
        StatusCode::CONFLICT,
        "group_conflict",
        "make yours again",
    );

    // The loser fetches the chain, verifies it and makes the change again on the new head.
    let (_, listed) = chain(&app, &tokens[1], group).await;
    let changes: Vec<SignedChange> = listed["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| SignedChange::from_json(&c.to_string()).expect("transport"))
        .collect();
    let head = GroupState::verify(&changes).expect("verify");
    let (again, who, token) = if head.is_member(&carol.id) {
        (
            make(
                group,
                &bob,
                Some(&head),
                Op::Add,
                vec![member(&dave, false)],
            ),
            "bob",
            &tokens[1],
        )
    } else {
        (
            make(
                group,
                &alice,
                Some(&head),
                Op::Add,
                vec![member(&carol, false)],
            ),
            "alice",
            &tokens[0],
        )
    };
    let retried = post(&app, token, group, &again).await;
    assert_eq!(retried.0, StatusCode::CREATED, "{who}: {}", retried.1);
    let mine: Value = app
        .get_authed("/api/v1/groups", &tokens[3])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine, json!([{"group_id": group.to_string(), "seq": 2}]));
}
