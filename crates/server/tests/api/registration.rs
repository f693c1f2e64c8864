//! Registration limits per address and in all, and common passwords refused.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestUser};

#[tokio::test]
async fn registrations_from_one_address_are_limited() {
    // The defaults (the test settings lift the limits for other tests).
    let app = spawn_app_with(|s| {
        s.registration_limits =
            securechat_server::Settings::new(s.data_dir.clone()).registration_limits;
    })
    .await;
    let client = app.client_from("127.0.4.1");
    let users: Vec<TestUser> = (0..20)
        .map(|i| TestUser::generate(&format!("r{i}x")))
        .collect();
    let responses =
        futures_util::future::join_all(users.iter().map(|u| app.register_from(&client, u))).await;
    let created = responses
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let limited: Vec<_> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    println!(
        "20 registrations at once from one address: {created} created, {} refused",
        limited.len()
    );
    assert_eq!(created, 10);
    assert_eq!(limited.len(), 10);
    let retry_after: u64 = limited[0].headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0);

    // Another address is not affected.
    let other = app.client_from("127.0.4.2");
    let response = app
        .register_from(&other, &TestUser::generate("other"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn registrations_are_limited_in_all() {
    let app = spawn_app_with(|s| {
        s.registration_limits.per_ip = 3;
        s.registration_limits.global = 5;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..7 {
        let client = app.client_from(&format!("127.0.5.{}", 1 + i));
        let response = app
            .register_from(&client, &TestUser::generate(&format!("g{i}x")))
            .await;
        statuses.push(response.status());
        if i >= 5 {
            assert_eq!(error_code(response).await, "rate_limited");
        }
    }
    println!("one registration each from seven addresses, global limit 5: {statuses:?}");
    assert_eq!(&statuses[..5], &[StatusCode::CREATED; 5]);
    assert_eq!(&statuses[5..], &[StatusCode::TOO_MANY_REQUESTS; 2]);
}

#[tokio::test]
async fn common_passwords_are_refused_naming_the_field() {
    let app = spawn_app().await;
    for password in ["password123", "1234567890", "QWERTYUIOP"] {
        let mut user = TestUser::generate("common");
        user.password = password.to_owned();
        let response = app.register(&user).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        println!("register with {password:?}: {status} {body}");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"], "invalid_field");
        assert_eq!(body["field"], "password");
        assert!(body["message"]
            .as_str()
            .is_some_and(|m| m.contains("common")));
    }

    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;
    let change = app
        .post_authed(
            "/api/v1/auth/password",
            &tokens.access_token,
            &json!({"current_password": user.password, "new_password": "password123"}),
        )
        .await;
    assert_eq!(change.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = change.json().await.expect("json");
    assert_eq!(body["field"], "new_password");
    // The old password still works.
    assert_eq!(app.login(&user).await.status(), StatusCode::OK);
}
