//! Who may register: the registration modes, invitations, the first account of an empty
//! server, and the IP rule checked before an account is made.

use reqwest::StatusCode;
use serde_json::Value;

use securechat_server::auth::codes::OneTimeCode;
use securechat_server::settings::RegistrationMode;
use securechat_store::model::NewInvite;

use crate::helpers::{assert_refused, now_ms, spawn_app_with, TestApp, TestUser};

async fn register_with(
    app: &TestApp,
    user: &TestUser,
    invite: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = user.register_body();
    if let Some(code) = invite {
        body["invite"] = Value::from(code);
    }
    app.post_json("/api/v1/auth/register", &body).await
}

async fn invite(app: &TestApp, expires_in_ms: i64) -> String {
    let code = OneTimeCode::generate();
    app.store
        .create_invite(NewInvite {
            code_hash: code.hash,
            note: "test".to_owned(),
            created_at: now_ms(),
            expires_at: now_ms() + expires_in_ms,
        })
        .await
        .expect("invite");
    code.code
}

async fn server_info(app: &TestApp) -> Value {
    reqwest::get(app.url("/api/v1/server"))
        .await
        .expect("server info")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn by_invitation_the_first_account_is_free_and_each_invitation_makes_one() {
    let app = spawn_app_with(|s| s.registration = RegistrationMode::Invite).await;
    let info = server_info(&app).await;
    assert_eq!(info["registration"], "invite");
    assert_eq!(info["first_account"], true);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));

    let (status, _) = register_with(&app, &TestUser::generate("owner"), None).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the first account needs no invitation"
    );
    assert_eq!(server_info(&app).await["first_account"], false);

    let (status, body) = register_with(&app, &TestUser::generate("uninvited"), None).await;
    assert_refused(status, &body, "registration_closed", "invitation");

    let (status, body) =
        register_with(&app, &TestUser::generate("guess"), Some("not-a-code")).await;
    assert_refused(status, &body, "invite_invalid", "not valid");

    let code = invite(&app, 3_600_000).await;
    // A registration refused for another reason keeps the invitation.
    let mut weak = TestUser::generate("weak");
    weak.password = "password".to_owned();
    let (status, _) = register_with(&app, &weak, Some(&code)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = register_with(
        &app,
        &TestUser::generate("invited"),
        Some(&format!(" {code}\n")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = register_with(&app, &TestUser::generate("second"), Some(&code)).await;
    assert_refused(status, &body, "invite_invalid", "used already");

    let expired = invite(&app, -1).await;
    let (status, body) = register_with(&app, &TestUser::generate("late"), Some(&expired)).await;
    assert_refused(status, &body, "invite_invalid", "expired");
    assert_eq!(app.store.list_users().await.expect("users").len(), 2);
}

#[tokio::test]
async fn a_closed_server_refuses_every_registration_and_an_open_one_none() {
    let app = spawn_app_with(|s| s.registration = RegistrationMode::Closed).await;
    assert_eq!(server_info(&app).await["registration"], "closed");
    let code = invite(&app, 3_600_000).await;
    for invite in [None, Some(code.as_str())] {
        let (status, body) = register_with(&app, &TestUser::generate("closed"), invite).await;
        assert_refused(status, &body, "registration_closed", "closed");
    }
    assert!(!app.store.has_accounts().await.expect("accounts"));

    let open = spawn_app_with(|s| s.registration = RegistrationMode::Open).await;
    for name in ["one", "two"] {
        let (status, _) = register_with(&open, &TestUser::generate(name), None).await;
        assert_eq!(status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn the_ip_rule_refuses_a_registration_whose_account_could_not_log_in() {
    // Reported: a third person at home registered, then could never log in, and the account
    // stayed. The rule (3 users per address) is now checked before the account is made.
    let app = spawn_app_with(|s| s.ip_rule.allow.clear()).await;
    let home = app.client_from("127.0.9.1");
    for name in ["mum", "dad"] {
        let user = TestUser::generate(name);
        assert_eq!(
            app.register_from(&home, &user).await.status(),
            StatusCode::CREATED
        );
        let login = app.login_from(&home, &user.username, &user.password).await;
        assert_eq!(login.status(), StatusCode::OK);
    }
    let third = TestUser::generate("kid");
    let response = app.register_from(&home, &third).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "ip_refused");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2 accounts are signed in from this address"),
        "{message}"
    );
    assert!(message.contains("fewer than 3"), "{message}");
    assert!(
        app.store
            .find_user_by_login(&third.username)
            .await
            .expect("find")
            .is_none(),
        "no account was made"
    );
    // From another address the same person may register.
    let elsewhere = app.client_from("127.0.9.2");
    assert_eq!(
        app.register_from(&elsewhere, &third).await.status(),
        StatusCode::CREATED
    );
}
