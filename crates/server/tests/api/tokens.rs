//! The token endpoint: password and refresh grants, the token format, forged tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use securechat_proto::auth::TokenResponse;

use securechat_server::auth::tokens::key_id;

use crate::helpers::{error_code, now_ms, spawn_app, spawn_app_with, TestUser};

fn claims_of(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut decode = || -> Value {
        let part = parts.next().expect("jwt part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
    };
    (decode(), decode())
}

#[tokio::test]
async fn password_login_returns_an_oauth2_token_response() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;

    let response = app.login(&user).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["refresh_expires_in"], 7 * 24 * 3600);
    assert_eq!(body["user_id"], json!(user.id));
    let refresh = body["refresh_token"].as_str().expect("refresh token");
    assert_eq!(URL_SAFE_NO_PAD.decode(refresh).expect("b64").len(), 32);

    let (header, claims) = claims_of(body["access_token"].as_str().expect("access token"));
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], "securechat");
    assert_eq!(claims["aud"], "securechat");
    assert_eq!(claims["sub"], json!(user.id));
    assert!(claims["sid"].is_string() && claims["jti"].is_string());
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64().expect("exp") - iat, 1800);
    assert!((iat - now_ms() / 1000).abs() < 60);
}

#[tokio::test]
async fn login_works_with_the_email_and_with_a_json_body() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;

    let by_email = app
        .login_from(&Client::new(), &user.email.to_uppercase(), &user.password)
        .await;
    assert_eq!(by_email.status(), StatusCode::OK);

    let json_body = Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "username": user.username, "password": user.password}))
        .send()
        .await
        .expect("request");
    assert_eq!(json_body.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_invalid_grant() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;

    let wrong = app
        .login_from(&Client::new(), &user.username, "not the password")
        .await;
    let unknown = app
        .login_from(&Client::new(), "nobody-here", "not the password")
        .await;

    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let wrong: Value = wrong.json().await.expect("json");
    let unknown: Value = unknown.json().await.expect("json");
    assert_eq!(wrong["error"], "invalid_grant");
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn bad_token_requests_follow_rfc6749_errors() {
    let app = spawn_app().await;
    let client = Client::new();
    let url = app.url("/api/v1/auth/token");

    let grant = client
        .post(&url)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(grant).await, "unsupported_grant_type");

    let missing = client
        .post(&url)
        .form(&[("grant_type", "password"), ("username", "alice")])
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(missing).await, "invalid_request");

    let content_type = client
        .post(&url)
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .expect("request");
    assert_eq!(content_type.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(content_type).await, "invalid_request");

    let malformed = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{grant_type")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(malformed).await, "invalid_request");
}

#[tokio::test]
async fn protected_routes_need_a_bearer_token() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;

    let anonymous = Client::new()
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .starts_with("Bearer"));
    assert_eq!(error_code(anonymous).await, "unauthorized");

    let authed = app.get_authed("/api/v1/users", &tokens.access_token).await;
    assert_eq!(authed.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_forged_and_unsigned_tokens_are_refused() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;
    let (_, claims) = claims_of(&tokens.access_token);
    let now = now_ms() / 1000;
    let secret = app.token_secret();
    let sign = |header: Header, claims: &Value, key: &[u8]| {
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key)).expect("encode")
    };
    let kid = key_id(&secret);
    let at_jwt = || {
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".to_owned());
        h.kid = Some(kid.clone());
        h
    };

    // Control: a token made the same way with the right key works.
    let good = sign(at_jwt(), &claims, &secret);
    assert_eq!(
        app.get_authed("/api/v1/users", &good).await.status(),
        StatusCode::OK
    );

    let mut expired_claims = claims.clone();
    expired_claims["iat"] = json!(now - 3600);
    expired_claims["exp"] = json!(now - 1);
    let expired = sign(at_jwt(), &expired_claims, &secret);

    let wrong_key = sign(at_jwt(), &claims, &[9u8; 32]);

    let mut plain_jwt = at_jwt();
    plain_jwt.typ = Some("JWT".to_owned());
    let wrong_typ = sign(plain_jwt, &claims, &secret);

    let mut other_aud = claims.clone();
    other_aud["aud"] = json!("someone-else");
    let wrong_aud = sign(at_jwt(), &other_aud, &secret);

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let alg_none = format!("{none_header}.{body}.");

    let hs512 = {
        let mut h = at_jwt();
        h.alg = Algorithm::HS512;
        sign(h, &claims, &secret)
    };

    for (name, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("typ JWT", wrong_typ),
        ("wrong audience", wrong_aud),
        ("alg none", alg_none),
        ("alg HS512", hs512),
        ("garbage", "abc.def.ghi".to_owned()),
    ] {
        let response = app.get_authed("/api/v1/users", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_session() {
    // No grace window: a rotated token presented again at once is reuse (the grace window
    // has its own tests in refresh.rs).
    let app = spawn_app_with(|s| s.refresh_grace = std::time::Duration::ZERO).await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let first = app.login_ok(&user).await;
    let first_refresh = first.refresh_token.clone().expect("refresh");

    let response = app.refresh(&first_refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: TokenResponse = response.json().await.expect("json");
    let second_refresh = second.refresh_token.clone().expect("refresh");
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        app.get_authed("/api/v1/users", &second.access_token)
            .await
            .status(),
        StatusCode::OK
    );

    // The rotated token comes back: reuse detection revokes the session.
    let reuse = app.refresh(&first_refresh).await;
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(reuse).await, "invalid_grant");

    let after = app.refresh(&second_refresh).await;
    assert_eq!(after.status(), StatusCode::BAD_REQUEST);
    for token in [&first.access_token, &second.access_token] {
        assert_eq!(
            app.get_authed("/api/v1/users", token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("securechat_refresh_token_reuse_total"));
}

#[tokio::test]
async fn a_browser_can_keep_the_refresh_token_in_a_host_cookie() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let client = Client::new();

    let response = client
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
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    for part in [
        "__Host-securechat_refresh=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "{part} missing from {cookie}");
    }
    assert!(!cookie.contains("Domain"));
    let body: Value = response.json().await.expect("json");
    assert!(body.get("refresh_token").is_none());

    let pair = cookie.split(';').next().expect("pair").to_owned();
    let refreshed = client
        .post(app.url("/api/v1/auth/token"))
        .header("cookie", &pair)
        .header("origin", &app.base)
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .expect("request");
    assert_eq!(refreshed.status(), StatusCode::OK);
    let rotated = refreshed.headers()["set-cookie"].to_str().expect("cookie");
    assert!(rotated.starts_with("__Host-securechat_refresh="));
    assert!(!rotated.starts_with(&pair));
}

#[tokio::test]
async fn tokens_carry_the_key_id_and_nbf_and_others_are_refused() {
    let app = spawn_app().await;
    let user = TestUser::generate("alice");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;
    let (header, claims) = claims_of(&tokens.access_token);
    let secret = app.token_secret();
    let kid = key_id(&secret);
    println!("issued header: {header}");
    assert_eq!(kid.len(), 16);
    assert_eq!(header["kid"], json!(kid));
    assert_eq!(claims["nbf"], claims["iat"]);

    let now = now_ms() / 1000;
    let sign = |kid: Option<&str>, claims: &Value| {
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".to_owned());
        h.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(&secret)).expect("encode")
    };
    // Control: the right kid and a past nbf.
    assert_eq!(
        app.get_authed("/api/v1/users", &sign(Some(&kid), &claims))
            .await
            .status(),
        StatusCode::OK
    );
    let mut future = claims.clone();
    future["nbf"] = json!(now + 600);
    let mut no_nbf = claims.clone();
    no_nbf.as_object_mut().expect("claims").remove("nbf");
    for (name, token) in [
        ("no kid", sign(None, &claims)),
        ("another kid", sign(Some("0011223344556677"), &claims)),
        ("nbf in the future", sign(Some(&kid), &future)),
        ("no nbf", sign(Some(&kid), &no_nbf)),
    ] {
        let status = app.get_authed("/api/v1/users", &token).await.status();
        println!("{name}: {status}");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }
}
