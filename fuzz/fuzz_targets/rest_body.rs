//! REST request bodies as the server reads them: JSON into the proto request types (the token
//! endpoint also takes a form), then the field checks the handlers run first. The first byte
//! chooses the endpoint by its value modulo 5 (seeds use `A` to `E`); the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat_crypto::binding::{parse_identity_key, verify_published_key};
use securechat_proto::auth::{ChangePasswordRequest, RegisterRequest, TokenRequest};
use securechat_proto::email::Email;
use securechat_proto::keys::NewEncryptionKey;
use securechat_proto::username::Username;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    // The username and email rules on any text (what a body's string field may hold).
    if let Ok(text) = std::str::from_utf8(body) {
        names(text);
    }
    match which % 5 {
        0 => register(body),
        1 => {
            if let Ok(key) = serde_json::from_slice::<NewEncryptionKey>(body) {
                let _ = serde_json::to_vec(&key).expect("serialises");
            }
        }
        2 => {
            if let Ok(req) = serde_json::from_slice::<ChangePasswordRequest>(body) {
                let _ = req.current_password.check_policy();
                let _ = req.new_password.check_policy();
            }
        }
        3 => token(serde_json::from_slice::<TokenRequest>(body).ok()),
        _ => token(serde_urlencoded::from_bytes::<TokenRequest>(body).ok()),
    }
});

fn register(body: &[u8]) {
    let Ok(req) = serde_json::from_slice::<RegisterRequest>(body) else {
        return;
    };
    names(&req.username);
    names(&req.email);
    let _ = req.password.check_policy();
    if let Ok(identity) = parse_identity_key(&req.identity_key) {
        let _ = verify_published_key(&identity, &req.user_id, &req.encryption_key);
    }
}

fn token(req: Option<TokenRequest>) {
    let Some(req) = req else {
        return;
    };
    if let Some(name) = &req.username {
        names(name);
    }
    if let Some(password) = &req.password {
        let _ = password.check_policy();
    }
    // The Debug form (logged) never shows the password or the refresh token.
    let blank = TokenRequest {
        password: None,
        refresh_token: None,
        ..req.clone()
    };
    assert_eq!(
        format!("{req:?}"),
        format!("{blank:?}"),
        "Debug shows a secret"
    );
}

/// A name or an address that is accepted has a canonical form that is accepted as itself.
fn names(text: &str) {
    if let Ok(name) = Username::parse(text) {
        assert_eq!(
            Username::parse(name.as_str()).ok().as_ref(),
            Some(&name),
            "canonical username is a fixed point"
        );
    }
    if let Ok(email) = Email::parse(text) {
        assert_eq!(
            Email::parse(email.as_str()).ok().as_ref(),
            Some(&email),
            "canonical email is a fixed point"
        );
    }
}
