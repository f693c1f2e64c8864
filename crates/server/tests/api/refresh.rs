//! Refresh tokens: concurrent refreshes with one token inside the grace window, and refresh
//! by cookie only from this site.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

use securechat_proto::auth::TokenResponse;

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestApp, TestUser};

async fn logged_in(app: &TestApp) -> TokenResponse {
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    app.login_ok(&user).await
}

async fn tokens(response: Response) -> TokenResponse {
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("token json")
}

#[tokio::test]
async fn two_refreshes_with_one_token_get_the_same_successor() {
    let app = spawn_app().await;
    let first = logged_in(&app).await;
    let token = first.refresh_token.clone().expect("refresh");

    let (a, b) = tokio::join!(app.refresh(&token), app.refresh(&token));
    println!("two refreshes at once: {} and {}", a.status(), b.status());
    let (a, b) = (tokens(a).await, tokens(b).await);
    assert_eq!(a.refresh_token, b.refresh_token);
    assert_ne!(a.refresh_token.as_deref(), Some(token.as_str()));
    // A third, a moment later, still inside the window: the same successor again.
    let c = tokens(app.refresh(&token).await).await;
    assert_eq!(c.refresh_token, a.refresh_token);
    for access in [&a.access_token, &b.access_token, &c.access_token] {
        assert_eq!(
            app.get_authed("/api/v1/users", access).await.status(),
            StatusCode::OK
        );
    }
    // The session goes on with the successor.
    let next = tokens(app.refresh(&a.refresh_token.expect("refresh")).await).await;
    assert_eq!(
        app.get_authed("/api/v1/users", &next.access_token)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_old_token_is_reuse_after_the_grace_window_or_once_its_successor_was_used() {
    let app = spawn_app_with(|s| s.refresh_grace = Duration::from_secs(1)).await;

    // After the window.
    let first = logged_in(&app).await;
    let token = first.refresh_token.clone().expect("refresh");
    let successor = tokens(app.refresh(&token).await).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let late = app.refresh(&token).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(late).await, "invalid_grant");
    let revoked = app
        .refresh(&successor.refresh_token.expect("refresh"))
        .await;
    assert_eq!(revoked.status(), StatusCode::BAD_REQUEST);

    // Inside the window, but the successor was already used.
    let first = logged_in(&app).await;
    let token = first.refresh_token.clone().expect("refresh");
    let second = tokens(app.refresh(&token).await).await;
    let third = tokens(app.refresh(&second.refresh_token.expect("refresh")).await).await;
    let replay = app.refresh(&token).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.refresh(&third.refresh_token.expect("refresh"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

async fn cookie_login(app: &TestApp) -> String {
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let response = Client::new()
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", &user.username),
            ("password", &user.password),
            ("refresh_cookie", "true"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().expect("cookie");
    cookie.split(';').next().expect("pair").to_owned()
}

async fn cookie_refresh(app: &TestApp, cookie: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = Client::new()
        .post(app.url("/api/v1/auth/token"))
        .header("cookie", cookie)
        .form(&[("grant_type", "refresh_token")]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn a_refresh_by_cookie_must_come_from_this_site() {
    let app = spawn_app().await;
    let cookie = cookie_login(&app).await;

    for (case, headers) in [
        ("foreign Origin", vec![("origin", "https://evil.example")]),
        ("Origin null", vec![("origin", "null")]),
        ("no Origin", vec![]),
        ("cross-site fetch", vec![("sec-fetch-site", "cross-site")]),
        ("same-site fetch", vec![("sec-fetch-site", "same-site")]),
    ] {
        let response = cookie_refresh(&app, &cookie, &headers).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        println!("refresh by cookie, {case}: {status} {}", body["error"]);
        assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
        assert_eq!(body["error"], "origin_not_allowed", "{case}");
    }

    // The refusals did not use the token up: this site's own page refreshes with it.
    let own = app.base.clone();
    let ok = cookie_refresh(&app, &cookie, &[("origin", own.as_str())]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let rotated = ok.headers()["set-cookie"].to_str().expect("cookie");
    let next = rotated.split(';').next().expect("pair").to_owned();
    let same_origin = cookie_refresh(&app, &next, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(same_origin.status(), StatusCode::OK);
}
