//! The user directory, public keys and key rotation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use securechat_crypto::binding::{parse_identity_key, publish_key, verify_published_key};
use securechat_crypto::identity::EncryptionKeyPair;
use securechat_proto::keys::{KeyStatus, UserKeys};
use securechat_proto::users::UserSummary;

use crate::helpers::{error_code, now_ms, spawn_app, TestUser};

#[tokio::test]
async fn the_directory_lists_every_user_with_an_online_flag() {
    let app = spawn_app().await;
    let alice = TestUser::generate("alice");
    let bob = TestUser::generate("bob");
    app.register_ok(&alice).await;
    app.register_ok(&bob).await;
    let tokens = app.login_ok(&alice).await;

    let users: Vec<UserSummary> = app
        .get_authed("/api/v1/users", &tokens.access_token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(users.len(), 2);
    assert!(users
        .iter()
        .any(|u| u.id == alice.id && u.username == alice.username));
    assert!(users.iter().any(|u| u.id == bob.id));
    // Nobody has a WebSocket open, so nobody is online.
    assert!(users.iter().all(|u| !u.online));

    let online: Vec<UserSummary> = app
        .get_authed("/api/v1/users/online", &tokens.access_token)
        .await
        .json()
        .await
        .expect("json");
    assert!(online.is_empty());
}

#[tokio::test]
async fn a_users_keys_are_published_and_verify() {
    let app = spawn_app().await;
    let alice = TestUser::generate("alice");
    let bob = TestUser::generate("bob");
    app.register_ok(&alice).await;
    app.register_ok(&bob).await;
    let tokens = app.login_ok(&bob).await;

    let keys: UserKeys = app
        .get_authed(
            &format!("/api/v1/users/{}/keys", alice.id),
            &tokens.access_token,
        )
        .await
        .json()
        .await
        .expect("json");

    assert_eq!(keys.user_id, alice.id);
    let identity = parse_identity_key(&keys.identity_key).expect("identity key");
    assert_eq!(identity, alice.identity.public());
    assert_eq!(keys.encryption_keys.len(), 1);
    let record = &keys.encryption_keys[0];
    assert_eq!(record.status, KeyStatus::Active);
    let verified =
        verify_published_key(&identity, &alice.id, &record.published()).expect("binding");
    assert_eq!(verified.x25519, alice.key.public());

    let missing = app
        .get_authed(
            &format!("/api/v1/users/{}/keys", uuid::Uuid::now_v7()),
            &tokens.access_token,
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let malformed = app
        .get_authed("/api/v1/users/not-a-uuid/keys", &tokens.access_token)
        .await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_new_key_is_appended_and_old_ones_are_retired() {
    let app = spawn_app().await;
    let alice = TestUser::generate("alice");
    app.register_ok(&alice).await;
    let tokens = app.login_ok(&alice).await;
    let new_key = EncryptionKeyPair::generate(&mut rand::rngs::OsRng);
    let record = publish_key(&alice.identity, &alice.id, &new_key, now_ms() + 1000);

    let created = app
        .post_authed("/api/v1/me/keys", &tokens.access_token, &json!(record))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.expect("json");
    assert_eq!(body["status"], "active");
    assert_eq!(body["key_id"], json!(record.key_id));

    let keys: UserKeys = app
        .get_authed(
            &format!("/api/v1/users/{}/keys", alice.id),
            &tokens.access_token,
        )
        .await
        .json()
        .await
        .expect("json");
    let statuses: Vec<KeyStatus> = keys.encryption_keys.iter().map(|k| k.status).collect();
    assert_eq!(statuses, [KeyStatus::Retired, KeyStatus::Active]);
    assert_eq!(keys.encryption_keys[1].key_id, record.key_id);

    let again = app
        .post_authed("/api/v1/me/keys", &tokens.access_token, &json!(record))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(again).await, "key_conflict");

    let older = publish_key(
        &alice.identity,
        &alice.id,
        &EncryptionKeyPair::generate(&mut rand::rngs::OsRng),
        now_ms() - 60_000,
    );
    let refused = app
        .post_authed("/api/v1/me/keys", &tokens.access_token, &json!(older))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A key signed by someone else's identity does not bind to alice.
    let mallory = TestUser::generate("mallory");
    let forged = publish_key(&mallory.identity, &alice.id, &mallory.key, now_ms() + 5000);
    let refused = app
        .post_authed("/api/v1/me/keys", &tokens.access_token, &json!(forged))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["field"], "binding_sig");
}
