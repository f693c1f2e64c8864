//! Logout, password change and the session sweeper.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;

use securechat_proto::ids::SessionId;

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestUser};

#[tokio::test]
async fn logout_revokes_the_access_token_at_once() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;
    let other = app.login_ok(&user).await;
    // Warm the session cache, so the test shows revocation beats it.
    assert_eq!(
        app.get_authed("/api/v1/users", &tokens.access_token)
            .await
            .status(),
        StatusCode::OK
    );

    let logout = Client::new()
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(logout.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .contains("Max-Age=0"));

    assert_eq!(
        app.get_authed("/api/v1/users", &tokens.access_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .refresh(tokens.refresh_token.as_deref().expect("refresh"))
        .await;
    assert_eq!(error_code(refresh).await, "invalid_grant");
    // Other sessions of the same user are untouched.
    assert_eq!(
        app.get_authed("/api/v1/users", &other.access_token)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn changing_the_password_revokes_every_other_session() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let current = app.login_ok(&user).await;
    let other = app.login_ok(&user).await;
    let new_password = "a much better passphrase";

    let wrong = app
        .post_authed(
            "/api/v1/auth/password",
            &current.access_token,
            &json!({"current_password": "not it at all", "new_password": new_password}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(wrong).await, "wrong_password");

    let short = app
        .post_authed(
            "/api/v1/auth/password",
            &current.access_token,
            &json!({"current_password": user.password, "new_password": "short"}),
        )
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let changed = app
        .post_authed(
            "/api/v1/auth/password",
            &current.access_token,
            &json!({"current_password": user.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.get_authed("/api/v1/users", &current.access_token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_authed("/api/v1/users", &other.access_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .refresh(other.refresh_token.as_deref().expect("refresh"))
        .await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    let old = app.login(&user).await;
    assert_eq!(old.status(), StatusCode::BAD_REQUEST);
    let new = app
        .login_from(&Client::new(), &user.username, new_password)
        .await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_sweeper_removes_expired_sessions() {
    let app = spawn_app_with(|s| {
        s.refresh_ttl = Duration::from_millis(300);
        s.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;
    let claims: serde_json::Value = {
        use base64::Engine as _;
        let part = tokens.access_token.split('.').nth(1).expect("claims");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .expect("b64"),
        )
        .expect("json")
    };
    let sid = SessionId(claims["sid"].as_str().expect("sid").parse().expect("uuid"));
    assert!(app.store.get_session(sid).await.expect("store").is_some());

    // Poll (bounded) until the sweeper has deleted the expired session.
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if app.store.get_session(sid).await.expect("store").is_none() {
            gone = true;
            break;
        }
    }
    assert!(gone, "expired session was not swept");
    assert_eq!(
        app.get_authed("/api/v1/users", &tokens.access_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
