//! Getting back in with a one-time reset code, and deleting one's own account.

use reqwest::StatusCode;
use serde_json::{json, Value};

use securechat_proto::ws::{DeleteReason, ServerEvent, WsErrorCode};
use securechat_server::auth::codes::OneTimeCode;
use securechat_store::model::NewReset;

use crate::helpers::{assert_refused, now_ms, spawn_app, wait_for, TestApp, TestUser};

async fn reset_code(app: &TestApp, user: securechat_proto::ids::UserId, ttl_ms: i64) -> String {
    let code = OneTimeCode::generate();
    app.store
        .create_reset(NewReset {
            code_hash: code.hash,
            user,
            created_at: now_ms(),
            expires_at: now_ms() + ttl_ms,
        })
        .await
        .expect("reset code");
    code.code
}

async fn reset(app: &TestApp, code: &str, password: &str) -> (StatusCode, Value) {
    app.post_json(
        "/api/v1/auth/password/reset",
        &json!({"code": code, "new_password": password}),
    )
    .await
}

#[tokio::test]
async fn a_reset_code_sets_the_password_once_and_signs_out_everywhere() {
    let app = spawn_app().await;
    let user = TestUser::generate("forgetful");
    app.register_ok(&user).await;
    let tokens = app.login_ok(&user).await;
    let code = reset_code(&app, user.id, 3_600_000).await;

    let (status, body) = reset(&app, &code, "password").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a common password: {body}"
    );
    let (status, body) = reset(&app, &code, "a brand new passphrase").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = reset(&app, &code, "yet another passphrase").await;
    assert_refused(status, &body, "reset_code_invalid", "used already");
    let (status, body) = reset(&app, "made-up", "yet another passphrase").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let expired = reset_code(&app, user.id, -1).await;
    let (status, body) = reset(&app, &expired, "yet another passphrase").await;
    assert_refused(status, &body, "reset_code_invalid", "expired");

    let old = app.get_authed("/api/v1/users", &tokens.access_token).await;
    assert_eq!(
        old.status(),
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
    let login = app
        .login_from(&reqwest::Client::new(), &user.username, &user.password)
        .await;
    assert_eq!(
        login.status(),
        StatusCode::BAD_REQUEST,
        "the old password is gone"
    );
    let login = app
        .login_from(
            &reqwest::Client::new(),
            &user.username,
            "a brand new passphrase",
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    // The keys did not change.
    let keys = app.store.list_keys(user.id).await.expect("keys");
    assert_eq!(keys.len(), 1);
}

#[tokio::test]
async fn a_deleted_account_leaves_with_what_it_sent_and_its_peer_sees_it_go() {
    let app = spawn_app().await;
    let mut gone = app.peer("gone").await;
    let mut stays = app.peer("stays").await;
    let mut from_gone = gone.socket(0).await;
    let mut to_stays = stays.socket(0).await;
    let sealed = gone
        .chat
        .seal_text(stays.id(), "soon gone", false, None)
        .await
        .expect("seal");
    let msg_id = sealed.msg_id.to_b64();
    from_gone
        .send(&securechat_proto::ws::ClientFrame::Send {
            envelope: sealed.envelope,
        })
        .await
        .expect("send");
    wait_for(&mut to_stays, |e| match e {
        ServerEvent::Message { .. } => Some(()),
        _ => None,
    })
    .await;
    let reply = stays
        .chat
        .seal_text(gone.id(), "a reply that stays", false, None)
        .await
        .expect("seal");
    to_stays
        .send(&securechat_proto::ws::ClientFrame::Send {
            envelope: reply.envelope,
        })
        .await
        .expect("send");
    wait_for(&mut to_stays, |e| match e {
        ServerEvent::Ack { .. } => Some(()),
        _ => None,
    })
    .await;

    // Sealed while the account still lived, sent after it is gone (below).
    let late_but_sealed = stays
        .chat
        .seal_text(gone.id(), "are you still there?", false, None)
        .await
        .expect("seal");
    let token = gone.chat.api.access_token().await.expect("token");
    let wrong = reqwest::Client::new()
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .json(&json!({"password": "not the password"}))
        .send()
        .await
        .expect("delete");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(app
        .store
        .get_user(gone.id())
        .await
        .expect("get")
        .is_some_and(|u| u.deleted_at.is_none()));

    gone.chat
        .api
        .delete_account(&gone.password)
        .await
        .expect("delete my account");

    // The peer is told at once that the message is gone; the deleted account's socket ends.
    let removed = wait_for(&mut to_stays, |e| match e {
        ServerEvent::Deleted { msg_id, reason, .. } => Some((msg_id, reason)),
        _ => None,
    })
    .await;
    assert_eq!(removed, (msg_id, DeleteReason::Expired));
    let closed = wait_for(&mut from_gone, |e| match e {
        ServerEvent::Error { code, message, .. } => Some((code, message)),
        _ => None,
    })
    .await;
    assert_eq!(closed.0, WsErrorCode::SessionRevoked);
    assert!(closed.1.contains("deleted"), "{}", closed.1);

    // History keeps only the peer's own message; the directory marks the account; its keys
    // and login are gone; its name stays taken.
    let history = stays
        .chat
        .api
        .history(gone.id(), None, 50)
        .await
        .expect("history");
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].from, stays.id());
    let users = stays.chat.api.users().await.expect("users");
    let entry = users.iter().find(|u| u.id == gone.id()).expect("listed");
    assert!(entry.deleted && !entry.online);
    let token = stays.chat.api.access_token().await.expect("token");
    let keys = app
        .get_authed(&format!("/api/v1/users/{}/keys", gone.id()), &token)
        .await;
    assert_eq!(keys.status(), StatusCode::NOT_FOUND);
    let login = app
        .login_from(&reqwest::Client::new(), &gone.username, &gone.password)
        .await;
    assert_eq!(login.status(), StatusCode::BAD_REQUEST);
    let mut again = TestUser::generate("x");
    again.username = gone.username.clone();
    let response = app.register(&again).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // Writing to the deleted account is refused, by the server as by the client.
    to_stays
        .send(&securechat_proto::ws::ClientFrame::Send {
            envelope: late_but_sealed.envelope,
        })
        .await
        .expect("send");
    let refused = wait_for(&mut to_stays, |e| match e {
        ServerEvent::Error { code, .. } => Some(code),
        ServerEvent::Ack { .. } => panic!("a message to a deleted account was stored"),
        _ => None,
    })
    .await;
    assert_eq!(refused, WsErrorCode::UnknownRecipient);
    let late = stays
        .chat
        .seal_text(gone.id(), "anyone there?", false, None)
        .await;
    assert!(late.is_err(), "its keys are no longer served");
}

/// The code in a mailed reset link.
fn mailed_code(mail: &str) -> String {
    let start = mail.find("#reset=").expect("a reset link in the mail") + "#reset=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

// Two workers: the test thread blocks while it reads the SMTP server's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_by_a_mailed_link_and_unknown_accounts_look_the_same() {
    let no_mail = spawn_app().await;
    let (status, _) = no_mail
        .post_json("/api/v1/auth/password/forgot", &json!({"login": "anyone"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no mail configured");

    let Some(smtp) =
        securechat_store_tests::services::SmtpServer::start("the password-reset mail test")
    else {
        return;
    };
    let relay = format!("smtp://{}", smtp.addr);
    let app = crate::helpers::spawn_app_with(move |s| {
        s.public_url = Some("https://chat.example.org".to_owned());
        s.mail = Some(
            securechat_server::mail::Mailer::new(&relay, "securechat <chat@example.org>")
                .expect("mailer"),
        );
    })
    .await;
    let info: Value = reqwest::get(app.url("/api/v1/server"))
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert_eq!(info["password_reset_email"], true);
    let user = TestUser::generate("mailme");
    app.register_ok(&user).await;

    let forgot = |login: String| {
        let url = app.url("/api/v1/auth/password/forgot");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&json!({ "login": login }))
                .send()
                .await
                .expect("forgot");
            (response.status(), response.text().await.expect("body"))
        }
    };
    let unknown = forgot("nobody-here@example.org".to_owned()).await;
    let known = forgot(user.email.to_uppercase()).await;
    assert_eq!(
        known, unknown,
        "the answer does not tell whether the account exists"
    );
    assert_eq!(known.0, StatusCode::ACCEPTED);

    let mail = smtp.wait_for("#reset=", std::time::Duration::from_secs(20));
    assert!(mail.contains(&user.email), "{mail}");
    assert!(mail.contains("Reset your securechat password"), "{mail}");
    assert!(mail.contains("https://chat.example.org/#reset="), "{mail}");
    assert!(mail.contains("Your keys do not change"), "{mail}");
    let (status, body) = reset(&app, &mailed_code(&mail), "the mailed new passphrase").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let login = app
        .login_from(
            &reqwest::Client::new(),
            &user.username,
            "the mailed new passphrase",
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        smtp.received()
            .matches("Reset your securechat password")
            .count(),
        1,
        "no mail went to the unknown account"
    );
}
