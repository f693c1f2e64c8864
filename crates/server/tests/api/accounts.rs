//! Registration and its validation.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use securechat_proto::b64;
use securechat_proto::ids::UserId;

use crate::helpers::{error_code, spawn_app, TestApp, TestUser};

async fn register_with(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    let response = Client::new()
        .post(app.url("/api/v1/auth/register"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn registering_returns_201_with_the_id_and_canonical_username() {
    let app = spawn_app().await;
    let mut user = TestUser::generate("Alice");
    user.username = user.username.to_uppercase();

    let (status, body) = register_with(&app, &user.register_body()).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["user_id"], json!(user.id));
    assert_eq!(body["username"], json!(user.username.to_lowercase()));
}

#[tokio::test]
async fn a_username_differing_only_in_case_or_compatibility_form_is_taken() {
    let app = spawn_app().await;
    let alice = TestUser::generate("alice");
    app.register_ok(&alice).await;

    let mut upper = TestUser::generate("x");
    upper.username = alice.username.to_uppercase();
    let (status, body) = register_with(&app, &upper.register_body()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "username_taken");

    // Full-width letters and digits normalise (NFKC) to the same name.
    let mut wide = TestUser::generate("x");
    wide.username = alice
        .username
        .chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c))
        .collect();
    assert_ne!(wide.username, alice.username);
    let (status, body) = register_with(&app, &wide.register_body()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "username_taken");
}

#[tokio::test]
async fn an_email_differing_only_in_case_is_taken() {
    let app = spawn_app().await;
    let alice = TestUser::generate("alice");
    app.register_ok(&alice).await;
    let mut other = TestUser::generate("bob");
    other.email = alice.email.to_uppercase();

    let (status, body) = register_with(&app, &other.register_body()).await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "email_taken");
}

#[tokio::test]
async fn invalid_fields_are_refused_with_422_naming_the_field() {
    let app = spawn_app().await;
    let other_user = UserId::generate();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, &str, Mutation)> = vec![
        (
            "invalid email",
            "email",
            Box::new(|b| b["email"] = json!("not-an-email")),
        ),
        (
            "short username",
            "username",
            Box::new(|b| b["username"] = json!("ab")),
        ),
        (
            "username with a space",
            "username",
            Box::new(|b| b["username"] = json!("al ice")),
        ),
        (
            "short password",
            "password",
            Box::new(|b| b["password"] = json!("short")),
        ),
        (
            "huge password",
            "password",
            Box::new(|b| b["password"] = json!("x".repeat(1025))),
        ),
        (
            "identity key not base64url",
            "identity_key",
            Box::new(|b| b["identity_key"] = json!("***")),
        ),
        (
            "identity key too short",
            "identity_key",
            Box::new(|b| b["identity_key"] = json!(b64::encode([7u8; 31]))),
        ),
        (
            "weak identity key",
            "identity_key",
            Box::new(|b| {
                let mut one = [0u8; 32];
                one[0] = 1;
                b["identity_key"] = json!(b64::encode(one));
            }),
        ),
        (
            "padded base64 key",
            "encryption_key.x25519",
            Box::new(|b| {
                let x = b["encryption_key"]["x25519"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                b["encryption_key"]["x25519"] = json!(format!("{x}="));
            }),
        ),
        (
            "low-order encryption key",
            "encryption_key.x25519",
            Box::new(|b| b["encryption_key"]["x25519"] = json!(b64::encode([0u8; 32]))),
        ),
        (
            "key id not matching the key",
            "encryption_key.key_id",
            Box::new(|b| b["encryption_key"]["key_id"] = json!(b64::encode([1u8; 8]))),
        ),
        (
            "binding signed for another user",
            "encryption_key.binding_sig",
            Box::new(move |b| b["user_id"] = json!(other_user)),
        ),
        (
            "binding over another time",
            "encryption_key.binding_sig",
            Box::new(|b| {
                let t = b["encryption_key"]["created_at"]
                    .as_i64()
                    .unwrap_or_default();
                b["encryption_key"]["created_at"] = json!(t + 1);
            }),
        ),
        (
            "user id not a UUIDv7",
            "user_id",
            Box::new(|b| b["user_id"] = json!(uuid::Uuid::new_v4())),
        ),
        (
            "missing email",
            "email",
            Box::new(|b| {
                b.as_object_mut().map(|o| o.remove("email"));
            }),
        ),
        (
            "created_at before 1970",
            "encryption_key.created_at",
            Box::new(|b| b["encryption_key"]["created_at"] = json!(-5)),
        ),
        (
            "created_at of the wrong type",
            "encryption_key.created_at",
            Box::new(|b| b["encryption_key"]["created_at"] = json!("yesterday")),
        ),
    ];
    for (description, field, mutate) in cases {
        let user = TestUser::generate("val");
        let mut body = user.register_body();
        mutate(&mut body);

        let (status, answer) = register_with(&app, &body).await;

        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{description}: {answer}"
        );
        assert_eq!(answer["error"], "invalid_field", "{description}");
        assert_eq!(answer["field"], field, "{description}: {answer}");
    }
    // Nothing of the refused attempts was stored.
    let (status, _) = register_with(&app, &TestUser::generate("after").register_body()).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_json_and_wrong_content_type_get_clear_errors() {
    let app = spawn_app().await;
    let client = Client::new();

    let malformed = client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(malformed).await, "malformed_body");

    let wrong_type = client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "text/plain")
        .body(TestUser::generate("t").register_body().to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(wrong_type).await, "unsupported_media_type");

    let huge = client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(format!("{{\"username\": \"{}\"}}", "a".repeat(100_000)))
        .send()
        .await
        .expect("request");
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(huge).await, "payload_too_large");
}

#[tokio::test]
async fn the_same_user_id_or_identity_key_cannot_register_twice() {
    let app = spawn_app().await;
    let alice = TestUser::generate("alice");
    app.register_ok(&alice).await;

    let mut same_id = TestUser::generate("bob");
    same_id.id = alice.id;
    let (status, body) = register_with(&app, &same_id.register_body()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "account_conflict");

    let mut same_key = TestUser::generate("carol");
    same_key.identity =
        securechat_crypto::identity::IdentityKeyPair::from_seed(&alice.identity.seed());
    let (status, body) = register_with(&app, &same_key.register_body()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "account_conflict");
}
