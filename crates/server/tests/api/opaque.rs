//! OPAQUE (docs/PROTOCOL.md §18): registration and login without the password reaching the
//! server, what an attacker sees of unknown accounts, the failed-login limits at the first
//! step, the move of password accounts, the server's setting, changes, resets, deletion.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use securechat_client::password::LoginKind;
use securechat_client::{Api, ClientError, KeyRing};
use securechat_opaque::{client, sizes};
use securechat_proto::auth::PasswordLogins;
use securechat_proto::b64;
use securechat_server::auth::codes::OneTimeCode;
use securechat_store::model::NewReset;

use crate::helpers::{now_ms, spawn_app, spawn_app_with, spawn_in, TestApp};

const PASSWORD: &str = "correct horse battery staple";

/// A fresh account registered with OPAQUE through the client library (not logged in).
async fn opaque_account(app: &TestApp, name: &str) -> (Api, KeyRing) {
    let keys = KeyRing::generate();
    let api = Api::new(&app.base).expect("api");
    let request = keys
        .registration(name, &format!("{name}@example.org"))
        .expect("registration");
    api.register(request, PASSWORD).await.expect("register");
    (api, keys)
}

/// A fresh account registered the old way, with its password.
async fn password_account(app: &TestApp, name: &str) -> Api {
    let keys = KeyRing::generate();
    let api = Api::new(&app.base).expect("api");
    let request = keys
        .registration(name, &format!("{name}@example.org"))
        .expect("registration");
    api.register_with_password(request, PASSWORD)
        .await
        .expect("register with a password");
    api
}

async fn password_grant(app: &TestApp, login: &str, password: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", login),
            ("password", password),
        ])
        .send()
        .await
        .expect("token request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A login start as an attacker would send it: status, body, and how long it took.
async fn login_start(app: &TestApp, login: &str) -> (StatusCode, Value, Duration) {
    let started =
        client::login_start(&mut rand::rngs::OsRng, b"a guess at the password").expect("KE1");
    let at = Instant::now();
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/opaque/login/start"))
        .json(&json!({"username": login, "credential_request": b64::encode(&started.message)}))
        .send()
        .await
        .expect("login start");
    let elapsed = at.elapsed();
    let status = response.status();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        elapsed,
    )
}

async fn stored_credential(app: &TestApp, api: &Api) -> (Option<String>, Option<Vec<u8>>) {
    let id = api.session().expect("logged in").user_id;
    let user = app.store.get_user(id).await.expect("get").expect("user");
    (
        user.credential.argon2_hash().map(str::to_owned),
        user.credential.opaque_record().map(<[u8]>::to_vec),
    )
}

#[tokio::test]
async fn an_opaque_account_logs_in_without_its_password_reaching_the_server() {
    let app = spawn_app().await;
    let (api, _) = opaque_account(&app, "olga").await;
    let (session, kind) = api
        .login_with("olga", PASSWORD, false)
        .await
        .expect("login");
    assert_eq!(kind, LoginKind::Opaque);
    assert!(session.opaque);
    // The server keeps a 192-byte record and no hash.
    let (hash, record) = stored_credential(&app, &api).await;
    assert_eq!(hash, None);
    assert_eq!(record.map(|r| r.len()), Some(sizes::REGISTRATION_RECORD));
    // Logging in by email address works alike, and the session is a real one.
    let by_email = Api::new(&app.base).expect("api");
    by_email
        .login_with("olga@example.org", PASSWORD, false)
        .await
        .expect("login by email");
    assert_eq!(by_email.users().await.expect("users").len(), 1);
    // A wrong password is found out by the client: no token request is made.
    let wrong = Api::new(&app.base).expect("api");
    assert!(matches!(
        wrong
            .login_with("olga", "not the password at all", false)
            .await,
        Err(ClientError::WrongPassword)
    ));
    // The password grant knows no password for it.
    let (status, body) = password_grant(&app, "olga", PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn an_unknown_account_and_a_wrong_password_look_the_same() {
    // Every start counts as a failed login: lift the limits for the 46 made here.
    let app = spawn_app_with(|s| {
        s.login_limits.per_ip = 0;
        s.login_limits.per_account = 0;
        s.login_limits.global = 0;
        s.login_limits.per_source_free = 10_000;
    })
    .await;
    opaque_account(&app, "known").await;
    let legacy = password_account(&app, "legacy").await;
    drop(legacy);
    let mut real = Vec::new();
    let mut unknown = Vec::new();
    let mut hashed = Vec::new();
    for _ in 0..15 {
        real.push(login_start(&app, "known").await);
        unknown.push(login_start(&app, "nobody-here").await);
        hashed.push(login_start(&app, "legacy").await);
    }
    let shape = |(status, body, _): &(StatusCode, Value, Duration)| {
        let member = |name: &str| {
            body[name]
                .as_str()
                .map(|s| (s.len(), b64::decode(s).map(|b| b.len()).ok()))
        };
        (
            *status,
            body.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>()),
            member("login_id"),
            member("credential_response"),
        )
    };
    let expected = shape(&real[0]);
    assert_eq!(expected.0, StatusCode::OK);
    assert_eq!(
        expected.3.and_then(|(_, bytes)| bytes),
        Some(sizes::CREDENTIAL_RESPONSE),
        "{:?}",
        real[0].1
    );
    for sample in unknown.iter().chain(&hashed).chain(&real) {
        assert_eq!(shape(sample), expected, "{:?}", sample.1);
    }
    // No password opens the answer for an unknown name (the client cannot tell it from a
    // wrong password), and it is the same fake account each time.
    let attempt = client::login_start(&mut rand::rngs::OsRng, PASSWORD.as_bytes()).expect("KE1");
    let body: Value = reqwest::Client::new()
        .post(app.url("/api/v1/auth/opaque/login/start"))
        .json(&json!({"username": "nobody-here", "credential_request": b64::encode(&attempt.message)}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let response =
        b64::decode(body["credential_response"].as_str().expect("response")).expect("b64");
    assert_eq!(
        client::login_finish(
            &mut rand::rngs::OsRng,
            &attempt.state,
            PASSWORD.as_bytes(),
            &response
        ),
        Err(securechat_opaque::OpaqueError::InvalidLogin)
    );
    // Timing: the medians agree within noise (loose bounds; the figures are printed).
    let median = |samples: &[(StatusCode, Value, Duration)]| {
        let mut times: Vec<Duration> = samples.iter().map(|s| s.2).collect();
        times.sort();
        times[times.len() / 2]
    };
    let (real, unknown, hashed) = (median(&real), median(&unknown), median(&hashed));
    eprintln!(
        "login start medians: known {real:?}, unknown {unknown:?}, password account {hashed:?}"
    );
    for other in [unknown, hashed] {
        let (low, high) = (real.min(other), real.max(other));
        assert!(
            high <= low * 3 + Duration::from_millis(5),
            "known {real:?} vs {other:?}"
        );
    }
}

#[tokio::test]
async fn every_start_counts_until_a_login_finishes() {
    let app = spawn_app_with(|s| {
        s.login_limits.per_account = 3;
        s.login_limits.per_source_free = 100;
        // Loopback is a known source after a login: count the account anyway.
        s.login_limits.known_source_ttl = Duration::ZERO;
    })
    .await;
    let (api, _) = opaque_account(&app, "patty").await;
    // Many successful logins in a row: each start is taken back by its finish.
    for _ in 0..6 {
        api.login_with("patty", PASSWORD, false)
            .await
            .expect("login");
    }
    // Starts that are never finished (a wrong password: the client stops) count.
    for _ in 0..3 {
        assert!(matches!(
            api.login_with("patty", "a wrong password here", false)
                .await,
            Err(ClientError::WrongPassword)
        ));
    }
    let (status, body, _) = login_start(&app, "patty").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(matches!(
        api.login_with("patty", PASSWORD, false).await,
        Err(ClientError::Http { status: 429, .. })
    ));
}

#[tokio::test]
async fn a_password_account_moves_to_opaque_at_its_next_login() {
    let app = spawn_app().await;
    let api = password_account(&app, "pam").await;
    // Another session of pam's, signed in before the move, stays signed in.
    let (status, earlier) = password_grant(&app, "pam", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{earlier}");
    assert_eq!(earlier["opaque_upgrade"], true, "{earlier}");

    let (session, kind) = api.login_with("pam", PASSWORD, true).await.expect("login");
    assert_eq!(kind, LoginKind::Password { upgraded: true });
    assert!(session.opaque || api.session().is_some_and(|s| s.opaque));
    let (hash, record) = stored_credential(&app, &api).await;
    assert_eq!(hash, None, "the Argon2 hash is deleted");
    assert_eq!(record.map(|r| r.len()), Some(sizes::REGISTRATION_RECORD));
    let still = app
        .get_authed(
            "/api/v1/users",
            earlier["access_token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(still.status(), StatusCode::OK, "moving signs nobody out");

    // From now on: OPAQUE, and no password grant.
    let next = Api::new(&app.base).expect("api");
    let (_, kind) = next.login_with("pam", PASSWORD, true).await.expect("login");
    assert_eq!(kind, LoginKind::Opaque);
    let (status, body) = password_grant(&app, "pam", PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A wrong password with the fallback allowed is still wrong (the grant says so).
    let wrong = Api::new(&app.base).expect("api");
    assert!(wrong
        .login_with("pam", "nope nope nope", true)
        .await
        .is_err());
}

#[tokio::test]
async fn under_legacy_accounts_stay_and_under_opaque_passwords_are_refused() {
    let app = spawn_app_with(|s| s.password_logins = PasswordLogins::Legacy).await;
    let api = password_account(&app, "lee").await;
    let (_, kind) = api.login_with("lee", PASSWORD, true).await.expect("login");
    assert_eq!(kind, LoginKind::Password { upgraded: false });
    let (hash, record) = stored_credential(&app, &api).await;
    assert!(hash.is_some() && record.is_none());
    let data = app.stop().await;

    // The same data, OPAQUE only.
    let app = spawn_in(data, |s| s.password_logins = PasswordLogins::Opaque).await;
    let info: Value = reqwest::get(app.url("/api/v1/server"))
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert_eq!(info["password_logins"], "opaque");
    let (status, body) = password_grant(&app, "lee", PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "unsupported_grant_type");
    let client = Api::new(&app.base).expect("api");
    assert!(matches!(
        client.login_with("lee", PASSWORD, true).await,
        Err(ClientError::WrongPassword)
    ));
    let keys = KeyRing::generate();
    let legacy_register = client
        .register_with_password(
            keys.registration("newbie", "newbie@example.org")
                .expect("registration"),
            PASSWORD,
        )
        .await;
    assert!(
        matches!(&legacy_register, Err(ClientError::Http { status: 422, .. })),
        "{legacy_register:?}"
    );
    // The operator's reset code moves lee over.
    let user = app
        .store
        .find_user_by_login("lee")
        .await
        .expect("find")
        .expect("lee");
    let code = OneTimeCode::generate();
    app.store
        .create_reset(NewReset {
            code_hash: code.hash,
            user: user.id,
            created_at: now_ms(),
            expires_at: now_ms() + 60_000,
        })
        .await
        .expect("code");
    client
        .reset_password(&code.code, "a new password for lee")
        .await
        .expect("reset");
    let (_, kind) = client
        .login_with("lee", "a new password for lee", false)
        .await
        .expect("login after the reset");
    assert_eq!(kind, LoginKind::Opaque);
    // A used code starts nothing.
    let again = client
        .reset_password(&code.code, "another new password")
        .await;
    assert!(
        matches!(&again, Err(ClientError::Http { status: 403, .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn changing_the_password_needs_a_proof_and_signs_out_the_others() {
    let app = spawn_app().await;
    let (api, _) = opaque_account(&app, "chad").await;
    api.login("chad", PASSWORD).await.expect("login");
    let other = Api::new(&app.base).expect("api");
    other.login("chad", PASSWORD).await.expect("login");
    // A wrong current password is found out by the client.
    assert!(matches!(
        api.change_password("not my password", "the next password")
            .await,
        Err(ClientError::WrongPassword)
    ));
    // No evaluation under the account's key without a proof.
    let started = client::registration_start(&mut rand::rngs::OsRng, b"x").expect("start");
    let token = api.access_token().await.expect("token");
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/opaque/password/start"))
        .bearer_auth(&token)
        .json(&json!({"registration_request": b64::encode(&started.message)}))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/auth/opaque/password/start"))
        .bearer_auth(&token)
        .json(&json!({
            "registration_request": b64::encode(&started.message),
            "login_id": "forged",
            "credential_finalization": b64::encode([0u8; 64]),
        }))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    api.change_password(PASSWORD, "the next password")
        .await
        .expect("change");
    assert!(
        other.users().await.is_err(),
        "the other session is signed out"
    );
    assert!(api.users().await.is_ok(), "this one stays");
    let fresh = Api::new(&app.base).expect("api");
    assert!(matches!(
        fresh.login_with("chad", PASSWORD, false).await,
        Err(ClientError::WrongPassword)
    ));
    fresh
        .login_with("chad", "the next password", false)
        .await
        .expect("the new password");
}

#[tokio::test]
async fn registration_start_never_evaluates_an_existing_account() {
    let app = spawn_app().await;
    let (api, _) = opaque_account(&app, "ivy").await;
    let session = api.login("ivy", PASSWORD).await.expect("login");
    let started = client::registration_start(&mut rand::rngs::OsRng, b"guess").expect("start");
    let (status, body) = app
        .post_json(
            "/api/v1/auth/opaque/register/start",
            &json!({"user_id": session.user_id, "registration_request": b64::encode(&started.message)}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Malformed input is named.
    let (status, body) = app
        .post_json(
            "/api/v1/auth/opaque/register/start",
            &json!({"user_id": uuid::Uuid::now_v7(), "registration_request": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "registration_request");
}

#[tokio::test]
async fn an_opaque_account_is_deleted_with_a_proof() {
    let app = spawn_app().await;
    let (api, _) = opaque_account(&app, "dora").await;
    api.login("dora", PASSWORD).await.expect("login");
    assert!(matches!(
        api.delete_account("not the password").await,
        Err(ClientError::WrongPassword)
    ));
    api.delete_account(PASSWORD).await.expect("delete");
    let fresh = Api::new(&app.base).expect("api");
    assert!(fresh.login_with("dora", PASSWORD, false).await.is_err());
}

#[tokio::test]
async fn the_setup_comes_from_the_token_secret_and_survives_a_restart() {
    let app = spawn_app().await;
    opaque_account(&app, "rita").await;
    let data = app.stop().await;
    let app = spawn_in(data, |_| {}).await;
    Api::new(&app.base)
        .expect("api")
        .login_with("rita", PASSWORD, false)
        .await
        .expect("login after a restart");
}

#[tokio::test]
async fn a_finished_login_cannot_be_finished_again() {
    let app = spawn_app_with(|s| {
        s.login_limits.per_ip = 2;
        s.login_limits.per_source_free = 100;
    })
    .await;
    opaque_account(&app, "rex").await;
    let attempt = client::login_start(&mut rand::rngs::OsRng, PASSWORD.as_bytes()).expect("KE1");
    let (status, body) = app
        .post_json(
            "/api/v1/auth/opaque/login/start",
            &json!({"username": "rex", "credential_request": b64::encode(&attempt.message)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response =
        b64::decode(body["credential_response"].as_str().expect("response")).expect("b64");
    let finalization = client::login_finish(
        &mut rand::rngs::OsRng,
        &attempt.state,
        PASSWORD.as_bytes(),
        &response,
    )
    .expect("the password opens it");
    let grant = [
        ("grant_type", securechat_proto::auth::OPAQUE_GRANT),
        ("login_id", body["login_id"].as_str().expect("login_id")),
        ("credential_finalization", &b64::encode(&finalization)),
    ];
    let finish = || async {
        let response = reqwest::Client::new()
            .post(app.url("/api/v1/auth/token"))
            .form(&grant)
            .send()
            .await
            .expect("token");
        (
            response.status(),
            response.json::<Value>().await.expect("json"),
        )
    };
    let (status, first) = finish().await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // Replayed (by whoever saw the request): no second session, and nothing taken back.
    let (status, again) = finish().await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    assert_eq!(again["error"], "invalid_grant");
    // The address's limit (2) still counts: two unfinished starts use it up; a replay that
    // took a count back each time would have kept it open.
    for _ in 0..2 {
        assert_eq!(login_start(&app, "someone-else").await.0, StatusCode::OK);
        let _ = finish().await;
    }
    assert_eq!(
        login_start(&app, "someone-else").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}
