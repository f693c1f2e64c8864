//! Brute-force protection: failed logins limited per account and per IP.

use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, TestUser};

#[tokio::test]
async fn an_account_is_locked_after_too_many_failures_and_a_success_resets_it() {
    let app = spawn_app_with(|s| s.login_limits.per_account = 3).await;
    let user = TestUser::generate("alice");
    let bystander = TestUser::generate("bob");
    app.register_ok(&user).await;
    app.register_ok(&bystander).await;
    let client = reqwest::Client::new();

    // Two failures, then a success resets the count.
    for _ in 0..2 {
        assert_eq!(
            app.login_from(&client, &user.username, "wrong password!")
                .await
                .status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(app.login(&user).await.status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            app.login_from(&client, &user.username, "wrong password!")
                .await
                .status(),
            StatusCode::BAD_REQUEST
        );
    }

    // Now even the right password is refused, by username or by email.
    let locked = app.login(&user).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0);
    let body: serde_json::Value = locked.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited");
    let by_email = app.login_from(&client, &user.email, &user.password).await;
    assert_eq!(by_email.status(), StatusCode::TOO_MANY_REQUESTS);

    // Other accounts are not affected.
    assert_eq!(app.login(&bystander).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_ip_is_limited_across_accounts() {
    let app = spawn_app_with(|s| s.login_limits.per_ip = 4).await;
    let client = app.client_from("127.0.0.30");
    for i in 0..4 {
        let status = app
            .login_from(&client, &format!("nobody{i}"), "wrong password!")
            .await
            .status();
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;

    let limited = app
        .login_from(&client, &user.username, &user.password)
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let other_ip = app.client_from("127.0.0.31");
    assert_eq!(
        app.login_from(&other_ip, &user.username, &user.password)
            .await
            .status(),
        StatusCode::OK
    );
}
