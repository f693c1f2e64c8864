//! Health, readiness, metrics and the OpenAPI document.

use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, TestUser};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = Client::new()
            .get(app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers().contains_key("x-request-id"));
    }
    let unknown = Client::new()
        .get(app.url("/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn metrics_count_requests_logins_and_sessions() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    app.login_ok(&user).await;
    let _ = app
        .login_from(&Client::new(), &user.username, "wrong password!")
        .await;

    let text = app.metrics_text().await;

    for needle in [
        "securechat_http_requests_total{method=\"POST\",route=\"/api/v1/auth/token\",status=\"200\"}",
        "securechat_http_request_duration_seconds_bucket",
        "securechat_logins_total{outcome=\"success\"}",
        "securechat_logins_total{outcome=\"invalid_credentials\"}",
        "securechat_sessions_active",
        "securechat_registrations_total",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let doc: Value = Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/auth/logout",
        "/api/v1/auth/password",
        "/api/v1/auth/opaque/register/start",
        "/api/v1/auth/opaque/login/start",
        "/api/v1/auth/opaque/confirm",
        "/api/v1/auth/opaque/password/start",
        "/api/v1/auth/opaque/password/finish",
        "/api/v1/auth/opaque/reset/start",
        "/api/v1/users",
        "/api/v1/users/online",
        "/api/v1/users/{id}/keys",
        "/api/v1/me/keys",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
    ] {
        assert!(paths.contains_key(path), "{path} missing from openapi.json");
    }
    assert!(doc["components"]["schemas"]["RegisterRequest"].is_object());
    assert!(doc["components"]["schemas"]["LoginStartResponse"].is_object());
}

#[tokio::test]
async fn bad_query_strings_get_a_json_error_naming_the_query() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;

    for path in [
        format!("/api/v1/conversations/{}/messages?limit=lots", user.id),
        format!("/api/v1/conversations/{}/messages?before=-1", user.id),
    ] {
        let response = app.get_authed(&path, &tokens.access_token).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_field");
        assert_eq!(body["field"], "query");
    }
    let no_recipient = Client::new()
        .post(app.url("/api/v1/files"))
        .bearer_auth(&tokens.access_token)
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .expect("request");
    assert_eq!(no_recipient.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = no_recipient.json().await.expect("json");
    assert_eq!(body["field"], "query");
}
