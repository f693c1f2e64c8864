//! The paper's IP rule at login, from distinct loopback source addresses.

use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp, TestUser};

async fn login_status(app: &TestApp, client: &Client, user: &TestUser) -> (StatusCode, Value) {
    let response = app.login_from(client, &user.username, &user.password).await;
    let status = response.status();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn a_user_seen_from_more_than_three_ips_is_refused() {
    let app = spawn_app_with(|s| s.ip_rule.allow.clear()).await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;

    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let (status, body) = login_status(&app, &app.client_from(ip), &user).await;
        assert_eq!(status, StatusCode::OK, "{ip}: {body}");
    }
    // A further login from an address already in use is fine.
    let (status, _) = login_status(&app, &app.client_from("127.0.0.3"), &user).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = login_status(&app, &app.client_from("127.0.0.5"), &user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "ip_policy");
    assert!(body["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));

    let text = app.metrics_text().await;
    assert!(text.contains("securechat_ip_policy_refusals_total{rule=\"ips_per_user\"}"));
}

#[tokio::test]
async fn an_ip_used_by_three_users_is_refused() {
    let app = spawn_app_with(|s| s.ip_rule.allow.clear()).await;
    let client = app.client_from("127.0.0.9");
    let users: Vec<TestUser> = (0..3)
        .map(|i| TestUser::generate(&format!("u{i}x")))
        .collect();
    for user in &users {
        app.register_ok(user).await;
    }

    assert_eq!(
        login_status(&app, &client, &users[0]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        login_status(&app, &client, &users[1]).await.0,
        StatusCode::OK
    );
    let (status, body) = login_status(&app, &client, &users[2]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "ip_policy");
    // The third user is fine from another address.
    let (status, _) = login_status(&app, &app.client_from("127.0.0.10"), &users[2]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn allow_listed_networks_are_exempt() {
    let app =
        spawn_app_with(|s| s.ip_rule.allow = vec!["127.0.0.16/28".parse().expect("cidr")]).await;
    let client = app.client_from("127.0.0.17");
    for i in 0..4 {
        let user = TestUser::generate(&format!("al{i}x"));
        app.register_ok(&user).await;
        assert_eq!(login_status(&app, &client, &user).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let app = spawn_app_with(|s| {
        s.ip_rule.allow.clear();
        s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let via_proxy = |forwarded: &'static str| {
        let app = &app;
        let user = &user;
        async move {
            app.client_from("127.0.0.1")
                .post(app.url("/api/v1/auth/token"))
                .header("x-forwarded-for", forwarded)
                .form(&[
                    ("grant_type", "password"),
                    ("username", user.username.as_str()),
                    ("password", user.password.as_str()),
                ])
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(via_proxy(ip).await, StatusCode::OK);
    }
    assert_eq!(via_proxy("198.51.100.4").await, StatusCode::FORBIDDEN);

    // From an untrusted peer the header is ignored: the peer address counts, and that one
    // is a fourth address too.
    let spoofed = app
        .client_from("127.0.0.20")
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", "198.51.100.1")
        .form(&[
            ("grant_type", "password"),
            ("username", user.username.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);
}
