//! A restart on the same data folder loses nothing.

use reqwest::StatusCode;
use serde_json::json;

use securechat_crypto::binding::publish_key;
use securechat_crypto::identity::EncryptionKeyPair;
use securechat_proto::keys::UserKeys;

use crate::helpers::{now_ms, spawn_app, spawn_in, TestUser};

#[tokio::test]
async fn accounts_keys_sessions_and_the_token_secret_survive_a_restart() {
    let app = spawn_app().await;
    let alice = TestUser::generate("alice");
    app.register_ok(&alice).await;
    let tokens = app.login_ok(&alice).await;
    let rotated = publish_key(
        &alice.identity,
        &alice.id,
        &EncryptionKeyPair::generate(&mut rand::rngs::OsRng),
        now_ms() + 1000,
    );
    let created = app
        .post_authed("/api/v1/me/keys", &tokens.access_token, &json!(rotated))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let dir = app.stop().await;
    let app = spawn_in(dir, |_| {}).await;

    // The old access token still verifies (same secret) and its session is still active.
    let keys: UserKeys = app
        .get_authed(
            &format!("/api/v1/users/{}/keys", alice.id),
            &tokens.access_token,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(keys.encryption_keys.len(), 2);
    let refreshed = app
        .refresh(tokens.refresh_token.as_deref().expect("refresh"))
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_eq!(app.login(&alice).await.status(), StatusCode::OK);
}
